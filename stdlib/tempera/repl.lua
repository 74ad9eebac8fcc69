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
  -- an estimate (tp.observables.stats, tp.mc.sample's fields): mean +- err
  if type(v.mean) == "number" and type(v.err) == "number" then
    local s = require("tempera.observables").format(v)
    local extra = {}
    if type(v.tau) == "number" then extra[#extra + 1] = string.format("tau %.3g", v.tau) end
    if type(v.n) == "number" then extra[#extra + 1] = string.format("n %d", v.n) end
    if v.warnings then extra[#extra + 1] = "error bar not trusted: " .. v.warnings[1] end
    return #extra > 0 and (s .. " (" .. table.concat(extra, ", ") .. ")") or s
  end
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

-- Print each value on its own line (strings as they are); the first one
-- is kept in the global _ for the next line, as IPython does.
function M.show(...)
  if select("#", ...) > 0 and (...) ~= nil then rawset(_G, "_", (...)) end
  local plot = package.loaded["tempera.plot"]
  local printed = plot and plot._printed
  if plot then plot._printed = nil end
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    -- a text plot tp.plot.terminal already drew is not drawn twice
    if not (printed and v == printed) then io.stdout:write(type(v) == "string" and v or M.repr(v), "\n") end
  end
end

-- the modules of tp, loaded or not (help() lists them)
local function module_names()
  local names = {}
  for _, m in ipairs(require("tempera.host").modules()) do
    local sub = m:match("^tempera%.([%w_]+)$")
    if sub and sub ~= "cdef" and sub ~= "host" and sub ~= "cli" and sub ~= "ffi" and sub ~= "repl" and sub ~= "run" then
      names[#names + 1] = sub
    end
  end
  table.sort(names)
  return names
end

-- Completions of word for the REPL's TAB: "tp.mc.sa" -> { "tp.mc.sample" },
-- "m:ene" -> { "m:energies", "m:energy" }, "tp." -> every field and module
-- of tp.  Only names are looked up (globals, then fields, then an object's
-- methods through its metatable): nothing is called, no module is loaded
-- except by name under tp.
function M.complete(word)
  local out = {}
  if type(word) ~= "string" or word:find("[^%w_.:]") then return out end
  local base, sep, part = word:match("^(.*)([.:])([%w_]*)$")
  local keys = {}
  local function add_keys(t, methods_only)
    local seen = {}
    local function from(tt)
      while type(tt) == "table" and not seen[tt] do
        seen[tt] = true
        for k, v in pairs(tt) do
          if type(k) == "string" and k:match("^[%a_][%w_]*$") and not k:match("^_")
            and (not methods_only or type(v) == "function") then keys[k] = true end
        end
        local mt = getmetatable(tt)
        tt = type(mt) == "table" and mt.__index or nil
      end
    end
    from(t)
    local mt = getmetatable(t)
    if type(mt) == "table" and type(mt.__index) == "table" then from(mt.__index) end
  end
  local tp = require "tempera"
  if not base then
    base, sep, part = "", "", word
    add_keys(_G)
  else
    -- walk the chain of names (identifiers only; '.' fields)
    local v = _G
    for name in (base .. "."):gmatch("([^.:]+)[.:]") do
      if not name:match("^[%a_][%w_]*$") then return out end
      if type(v) ~= "table" and type(v) ~= "userdata" then return out end
      local ok, nv = pcall(function() return rawget(v, name) end)
      if (not ok or nv == nil) and v == tp then ok, nv = pcall(function() return tp[name] end) end
      if not ok or nv == nil then return out end
      v = nv
    end
    if type(v) ~= "table" then return out end
    add_keys(v, sep == ":")
    if v == tp and sep == "." then
      for _, m in ipairs(module_names()) do keys[m] = true end
    end
  end
  for k in pairs(keys) do
    if k:sub(1, #part) == part then out[#out + 1] = base .. sep .. k end
  end
  table.sort(out)
  return out
end

-- what an object without a help text offers: its methods and fields
local function describe_object(x)
  local mt = getmetatable(x)
  local methods, fields = {}, {}
  local idx = type(mt) == "table" and type(mt.__index) == "table" and mt.__index or nil
  local seen = {}
  while idx and not seen[idx] do
    seen[idx] = true
    for k, f in pairs(idx) do
      if type(k) == "string" and type(f) == "function" and not k:match("^_") then methods[#methods + 1] = k end
    end
    local up = getmetatable(idx)
    idx = type(up) == "table" and type(up.__index) == "table" and up.__index or nil
  end
  if type(x) == "table" then
    for k, v in pairs(x) do
      if type(k) == "string" and not k:match("^_") then
        if type(v) == "function" then methods[#methods + 1] = k else fields[#fields + 1] = k end
      end
    end
  end
  if #methods == 0 and #fields == 0 then return nil end
  table.sort(methods)
  table.sort(fields)
  local head = mt and mt.__tostring and tostring(x) or M.repr(x):sub(1, 60)
  local out = { head }
  if #methods > 0 then out[#out + 1] = "  methods: " .. table.concat(methods, ", ") end
  if #fields > 0 then out[#out + 1] = "  fields: " .. table.concat(fields, ", ") end
  return table.concat(out, "\n")
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
  if x == tp then
    d = (d or "tempera") .. "\nModules (help(tp.NAME) for each): " .. table.concat(module_names(), ", ")
  end
  if not d then d = describe_object(x) end
  if not d then return nil, "no help for " .. M.repr(x) end
  return d
end

return M
