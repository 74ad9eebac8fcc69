-- tempera.repl: printing values readably and help() for the REPL (and for
-- 'tempera help TOPIC').
local F = require "tempera.ffi"
local util = require "tempera.util"
local ffi = F.ffi

local M = {}

local MAX_ITEMS, MAX_DEPTH, PREVIEW = 12, 2, 8

local function is_ident(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") end

local function cdata_repr(v)
  local mt_ok, s = pcall(tostring, v)
  local ct = tostring(ffi.typeof(v)):match("^ctype<(.*)>$") or "?"
  local n = ct:match("%[(%d+)%]$")
  if n then
    n = tonumber(n)
    local parts = {}
    for i = 0, math.min(n, PREVIEW) - 1 do parts[#parts + 1] = tostring(tonumber(v[i])) end
    if n > PREVIEW then parts[#parts + 1] = "..." end
    return string.format("%s {%s}", ct, table.concat(parts, ", "))
  end
  return mt_ok and s or ct
end

local function repr(v, depth, seen)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "number" then
    if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
    return string.format("%.10g", v)
  end
  if t == "cdata" then return cdata_repr(v) end
  if t ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true
  local parts, n = {}, 0
  local len = #v
  for i = 1, len do
    n = n + 1
    if n > MAX_ITEMS then break end
    parts[#parts + 1] = repr(v[i], depth + 1, seen)
  end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= len and k == math.floor(k)) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    n = n + 1
    if n > MAX_ITEMS then break end
    local ks = is_ident(k) and k or "[" .. repr(k, MAX_DEPTH, seen) .. "]"
    parts[#parts + 1] = ks .. " = " .. repr(v[k], depth + 1, seen)
  end
  if n > MAX_ITEMS then parts[#parts + 1] = string.format("... (%d more)", n - MAX_ITEMS) end
  seen[v] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- A one-line readable form of any value.
function M.repr(v) return repr(v, 0, {}) end

-- Print each value on its own line (strings as they are).
function M.show(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    io.stdout:write(type(v) == "string" and v or M.repr(v), "\n")
  end
end

local function doc_of(x)
  local d = util.get_doc(x)
  if d then return d end
  local mt = getmetatable(x)
  if type(mt) == "table" and util.get_doc(mt) then return util.get_doc(mt) end
  if type(x) == "table" and type(x._doc) == "string" then return x._doc end
  return nil
end

-- help(), help(tp.rng), help("rng"), help("tempera.rng"): prints the text;
-- M.help_text returns it (nil, message when there is none).
function M.help(x)
  local text, err = M.help_text(x)
  io.stdout:write(text or err, "\n")
end

function M.help_text(x)
  local tp = require "tempera"
  if x == nil then x = tp end
  if type(x) == "string" then
    local name = x:gsub("^tp%.", ""):gsub("^tempera%.", "")
    local ok, v = pcall(function() return tp[name] end)
    if not ok or v == nil then
      return nil, "no help for '" .. x .. "'"
    end
    x = v
  end
  local d = doc_of(x)
  if not d then return nil, "no help for " .. M.repr(x) end
  return d
end

return M
