-- tempera.util: shared helpers for the stdlib: raising errors at the
-- recipe's line, turning C status codes into errors, validating option
-- tables, and attaching help text to objects.
local F = require "tempera.ffi"
local C, ffi = F.C, F.ffi

local M = {}

local stdlib_root = os.getenv("TEMPERA_STDLIB_PATH")

-- true if a chunk source belongs to the stdlib (embedded or on disk)
local function is_stdlib(source)
  if source:match("^@stdlib/tempera/") or source:match("^@build/gen/tempera/") then return true end
  if stdlib_root and stdlib_root ~= "" and source:sub(2, #stdlib_root + 1) == stdlib_root then return true end
  return false
end
M.is_stdlib = is_stdlib

-- Stack level (as seen by the caller of this function's caller) of the first
-- frame outside the stdlib: where the recipe called in.
local function user_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, "S")
    if not info then return 0 end   -- no recipe on the stack (a tempera command): no position
    if info.what ~= "C" and not is_stdlib(info.source) then return level - 1 end
    level = level + 1
  end
end

-- Raise msg as an error at the recipe's line (the first non-stdlib frame).
function M.raise(msg, ...)
  if select("#", ...) > 0 then msg = string.format(msg, ...) end
  error(msg, user_level())
end

-- Raise unless cond.
function M.check_arg(cond, msg, ...)
  if not cond then
    if select("#", ...) > 0 then msg = string.format(msg, ...) end
    error(msg, user_level())
  end
  return cond
end

-- Turn a tp_status from C into an error at the recipe's line.
-- TEMPERA_DEBUG=1 appends the C file:line that reported it.
local debug_where = os.getenv("TEMPERA_DEBUG")
function M.check(st)
  if st == 0 then return end
  local msg
  if st == 1 then
    msg = "interrupted"
  else
    msg = ffi.string(C.tp_last_error())
    if msg == "" then msg = ffi.string(C.tp_status_str(st)) end
    if debug_where and debug_where ~= "" and debug_where ~= "0" then
      msg = msg .. " [" .. ffi.string(C.tp_last_error_where()) .. "]"
    end
  end
  error(msg, user_level())
end

-- Like check, for a function returning a pointer: NULL means failure.
function M.check_ptr(p)
  if p == nil then
    local msg = ffi.string(C.tp_last_error())
    error(msg ~= "" and msg or "out of memory", user_level())
  end
  return p
end

-- The shortest text that reads back as the same number: 0.6, not
-- 0.59999999999999998; integers without a decimal point.
function M.format_number(v)
  if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
  for digits = 15, 17 do
    local s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end
M.sorted_keys = sorted_keys

-- Validate an option table against a spec and fill defaults.
--   spec = { name = { type = "number", default = 1, required = true,
--                     check = function(v) return ok, why end,
--                     doc = "..." }, ... }
-- Unknown keys, wrong types and failed checks raise at the recipe's line,
-- naming fname and listing the valid options.
function M.options(fname, t, spec)
  if t == nil then t = {} end
  if type(t) ~= "table" then M.raise("%s: expected a table of options, got %s", fname, type(t)) end
  local out = {}
  for k, v in pairs(t) do
    local s = spec[k]
    if not s then
      M.raise("%s: unknown option '%s' (valid: %s)", fname, tostring(k), table.concat(sorted_keys(spec), ", "))
    end
    local want = s.type
    if want and want ~= "any" then
      local got = type(v)
      local ok = got == want or (want == "integer" and got == "number" and v == math.floor(v))
        or (want == "callable" and (got == "function" or (getmetatable(v) or {}).__call ~= nil))
      if not ok and want == "cdata" then ok = got == "cdata" end
      if not ok then M.raise("%s: option '%s' expects %s, got %s", fname, k, want, got) end
    end
    if s.check then
      local ok, why = s.check(v)
      if not ok then M.raise("%s: option '%s' %s", fname, k, why or "is invalid") end
    end
    out[k] = v
  end
  for k, s in pairs(spec) do
    if out[k] == nil then
      if s.required then M.raise("%s: option '%s' is required", fname, k) end
      out[k] = s.default
    end
  end
  return out
end

-- Help text registry: objects (modules, functions, metatables) -> text.
local docs = setmetatable({}, { __mode = "k" })
function M.doc(obj, text)
  docs[obj] = text
  return obj
end
function M.get_doc(obj)
  return docs[obj]
end

-- The number of elements of size esize an FFI array holds (an array made by
-- ffi.new("T[?]", n) or "T[n]"), or nil where it cannot be known (a raw
-- pointer from C, which the caller vouches for).
function M.array_len(a, esize)
  if type(a) ~= "cdata" or not tostring(ffi.typeof(a)):find("%[") then return nil end
  return math.floor(ffi.sizeof(a) / esize)
end

-- The stdlib function the recipe called (for messages), or nil.
-- "tp.mc.sample" for the functions of tp and its modules (built on first use)
local public_names
local function public_name(f)
  if not (public_names and public_names[f]) then   -- modules load lazily: rebuild on a miss
    public_names = {}
    local ok, tp = pcall(require, "tempera")
    if ok and type(tp) == "table" then
      for k, v in pairs(tp) do
        if type(v) == "function" then public_names[v] = "tp." .. k
        elseif type(v) == "table" then
          for k2, f2 in pairs(v) do
            if type(f2) == "function" and type(k2) == "string" then public_names[f2] = "tp." .. k .. "." .. k2 end
          end
        end
      end
    end
  end
  return public_names[f]
end

-- The stdlib function the recipe called ("tp.mc.sample", "sample" for a
-- method), for messages; nil if none is known.
local function entry_name()
  local level, prev = 2, nil
  while true do
    local info = debug.getinfo(level, "Snf")
    if not info then return nil end
    if info.what ~= "C" and not is_stdlib(info.source) then
      if not prev then return nil end
      return public_name(prev.func) or (prev.name and (prev.namewhat == "method" and ":" .. prev.name or prev.name))
    end
    prev = info
    level = level + 1
  end
end

local function bytes_text(b)
  if b >= 2^30 then return string.format("%.1f GiB", b / 2^30) end
  if b >= 2^20 then return string.format("%.1f MiB", b / 2^20) end
  return string.format("%d bytes", b)
end
M.bytes_text = bytes_text

-- util.sized(ctype) -> a constructor f(n) for ctype[?] arrays of n values
-- that refuses, at the recipe's line and in the user's terms, a count that
-- is not a whole number >= 0, an array past LuaJIT's 2 GiB limit, or one
-- the machine cannot allocate (instead of "size of C type is unknown or
-- too large" from inside the stdlib).
function M.sized(ctype)
  local vla = ffi.typeof(ctype .. "[?]")
  local esize = ffi.sizeof(ctype)
  return function(n)
    if type(n) ~= "number" or n ~= n or n < 0 or n ~= math.floor(n) then
      local name = entry_name()
      M.raise("%s%sa count of %s values is not a whole number >= 0", name or "", name and ": " or "", tostring(n))
    end
    local bytes = n * esize
    if bytes >= 2^31 then
      local name = entry_name()
      M.raise("%s%san array of %.0f values (%s) is more than one tempera array holds (2 GiB): ask for fewer "
        .. "samples, a smaller batch or a smaller lattice, or stream to a dump", name or "", name and ": " or "",
        n, bytes_text(bytes))
    end
    local ok, a = pcall(vla, n)
    if not ok then
      local name = entry_name()
      M.raise("%s%sout of memory for %s", name or "", name and ": " or "", bytes_text(bytes))
    end
    return a
  end
end

-- Refuse a count larger than an FFI array holds (it would read or write
-- past the array's end).
function M.check_count(fname, what, a, need, esize)
  local len = M.array_len(a, esize)
  M.check_arg(len == nil or need <= len, "%s: %s holds %d values, %s needed", fname, what, len or 0,
    string.format("%.0f", need))
end

-- s as one single-quoted word for /bin/sh
function M.shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The arguments of a command of the form 'tempera NAME SRC [options]':
-- value_opts maps each option that takes a value to its key (for example
-- { ["-o"] = "out", ["--out"] = "out" }).  Returns src, opts; or nil and the
-- exit status after writing the usage (0 for -h/--help, 2 for a usage
-- error: an unknown option, an option without its value, no SRC or two).
function M.command_args(name, usage, what, args, value_opts)
  local src, opts = nil, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local key = value_opts[a]
    if key then
      if args[i + 1] == nil then io.stderr:write(usage, "\n"); return nil, 2 end
      opts[key] = args[i + 1]
      i = i + 2
    elseif a == "-h" or a == "--help" then io.stdout:write(usage, "\n"); return nil, 0
    elseif a:sub(1, 1) == "-" then
      io.stderr:write("tempera ", name, ": unknown option ", a, "\n", usage, "\n")
      return nil, 2
    elseif src then io.stderr:write("tempera ", name, ": one ", what, "\n", usage, "\n"); return nil, 2
    else src = a; i = i + 1 end
  end
  if not src then io.stderr:write(usage, "\n"); return nil, 2 end
  return src, opts
end

-- A file written whole and replaced atomically: util.open_write(path)
-- returns an object with :write(...) (strings and numbers, as file:write)
-- and :close(), which writes everything to a temporary file beside path,
-- flushes it to disk and renames it over path (C tp_write_file_atomic).
-- A failure (a full disk, a missing directory) raises with the path and the
-- reason, and path keeps its previous content.
local Writer = {}
Writer.__index = Writer
function Writer:write(...)
  for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring((select(i, ...))) end
  return self
end
function Writer:close()
  if self.closed then return true end
  self.closed = true
  local text = table.concat(self.parts)
  M.check(C.tp_write_file_atomic(self.path, text, #text))
  return true
end
function M.open_write(path)
  M.check_arg(type(path) == "string" and path ~= "", "expected a file name, got %s", tostring(path))
  return setmetatable({ path = path, parts = {} }, Writer)
end

-- The whole content of path (bytes), or nil when it cannot be opened.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Append text to path, every write checked (logs).
function M.append_file(path, text)
  M.check(C.tp_append_file(path, text, #text))
end

return M
