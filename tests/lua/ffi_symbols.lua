-- Every function declared in the FFI surface (runtime/tp_ffi.h, via the
-- generated tempera.cdef) resolves through ffi.C in the built binary.
-- Catches a missing -Wl,-E, hidden visibility, or a dropped object file.
local F = require "tempera.ffi"
local C = F.C
local cdef = require "tempera.cdef"

-- strip comments, then find 'name(' where name starts with tp_
local text = cdef:gsub("/%*.-%*/", ""):gsub("//[^\n]*", "")
local names, seen = {}, {}
for name in text:gmatch("([%a_][%w_]*)%s*%(") do
  if name:match("^tp_") and not seen[name] then
    seen[name] = true
    names[#names + 1] = name
  end
end
assert(#names >= 20, "expected at least 20 FFI functions, found " .. #names)
local missing = {}
for _, name in ipairs(names) do
  local ok = pcall(function() return C[name] end)
  if not ok then missing[#missing + 1] = name end
end
assert(#missing == 0, "FFI functions not found in the binary: " .. table.concat(missing, ", "))
assert(C.tp_abi_version() == F.ABI, "ABI handshake")
