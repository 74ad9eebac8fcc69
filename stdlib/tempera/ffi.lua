-- tempera.ffi: the one place that calls ffi.cdef.  The declarations are the
-- FFI region of runtime/tp_ffi.h, turned into text at build time
-- (tools/cdef.sh -> module tempera.cdef), so Lua and C cannot drift.
-- Other modules do: local C = require("tempera.ffi").C
local ffi = require "ffi"

local ABI = 1 -- the runtime/tp_ffi.h this Lua was written for

ffi.cdef(require "tempera.cdef")
local C = ffi.C

local abi = C.tp_abi_version()
if abi ~= ABI then
  error(string.format("tempera stdlib expects ABI %d but the binary has ABI %d " ..
    "(is TEMPERA_STDLIB_PATH pointing at another version?)", ABI, abi), 0)
end

return { C = C, ffi = ffi, ABI = ABI }
