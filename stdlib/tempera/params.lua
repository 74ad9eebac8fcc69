-- tempera.params: a recipe's parameters with defaults, overridden from the
-- command line with --set NAME=VALUE (and --seed).  Types follow the
-- defaults: number (any finite number), boolean or string; an integer is
-- declared with tp.params.int(default) and refuses fractions.  Unknown
-- names are errors that list the valid ones, both on the command line and
-- when the recipe reads P.name.
local util = require "tempera.util"
local run = require "tempera.run"

local function fmt(v)
  if type(v) == "number" then return util.format_number(v) end
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- tp.params.int(4): an integer parameter (a plain number default takes
-- any number)
local INT = {}
local function int(v)
  if type(v) ~= "number" or v ~= math.floor(v) or v ~= v or math.abs(v) == math.huge then
    util.raise("tp.params.int expects an integer default, got %s", tostring(v))
  end
  return setmetatable({ value = v }, INT)
end

local function convert(name, default, text, integer)
  local t = type(default)
  if t == "number" then
    local v = tonumber(text)
    if v == nil or v ~= v or math.abs(v) == math.huge then
      util.raise("parameter '%s' expects a finite number, got '%s'", name, text)
    end
    if integer and v ~= math.floor(v) then
      util.raise("parameter '%s' expects an integer (declared tp.params.int), got '%s'", name, text)
    end
    return v
  elseif t == "boolean" then
    local l = text:lower()
    if l == "true" or l == "1" or l == "yes" or l == "on" then return true end
    if l == "false" or l == "0" or l == "no" or l == "off" then return false end
    util.raise("parameter '%s' expects true or false, got '%s'", name, text)
  end
  return text
end

local function params(defaults, presets)
  if type(defaults) ~= "table" then util.raise("tp.params expects a table of defaults, e.g. tp.params{ beta = 0.6 }") end
  if run.params then util.raise("tp.params was already called in this run") end
  local values, integer = {}, {}
  for k, v in pairs(defaults) do
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      util.raise("tp.params: parameter names must be identifiers, got '%s'", tostring(k))
    end
    if getmetatable(v) == INT then integer[k], v = true, v.value end
    local t = type(v)
    if t ~= "number" and t ~= "string" and t ~= "boolean" then
      util.raise("tp.params: parameter '%s' must default to a number, string or boolean, got %s", k, t)
    end
    values[k] = v
  end
  if values.seed ~= nil and (type(values.seed) ~= "number" or values.seed < 0 or values.seed ~= math.floor(values.seed)) then
    util.raise("tp.params: seed must be a non-negative integer")
  end
  local cli = run.cli
  if presets ~= nil then
    -- named sets of defaults: P.preset (default or --set preset=NAME)
    -- picks one, applied before the other --set values
    if type(presets) ~= "table" or type(values.preset) ~= "string" then
      util.raise("tp.params(defaults, presets): presets must be a table and defaults must declare preset = \"name\"")
    end
    local pname = cli.set and cli.set.preset or values.preset
    local ps = presets[pname]
    if type(ps) ~= "table" then
      util.raise("unknown preset '%s' (valid: %s)", tostring(pname), table.concat(util.sorted_keys(presets), ", "))
    end
    for k, v in pairs(ps) do
      if values[k] == nil or type(values[k]) ~= type(v) or (integer[k] and v ~= math.floor(v)) then
        util.raise("tp.params: preset '%s' sets '%s', which is not a declared parameter of that type", pname, tostring(k))
      end
      values[k] = v
    end
  end
  for name, text in pairs(cli.set or {}) do
    if values[name] == nil then
      util.raise("unknown parameter '%s' in --set (valid: %s)", name, table.concat(util.sorted_keys(values), ", "))
    end
    values[name] = convert(name, values[name], text, integer[name])
  end
  if cli.seed then
    run.set_seed(cli.seed, "--seed")
  elseif values.seed ~= nil then
    run.set_seed(values.seed, cli.set and cli.set.seed and "--set" or "recipe")
  else
    run.seed()
  end
  values.seed = run.seed()

  local parts = {}
  for _, k in ipairs(util.sorted_keys(values)) do parts[#parts + 1] = k .. "=" .. fmt(values[k]) end
  io.stdout:write("# params: ", table.concat(parts, " "), "\n")
  run.mark_announced()

  local P = setmetatable({}, {
    __index = function(_, k)
      local v = values[k]
      if v == nil then
        util.raise("unknown parameter '%s' (declared: %s)", tostring(k), table.concat(util.sorted_keys(values), ", "))
      end
      return v
    end,
    __newindex = function(_, k, v) values[k] = v end,
    __pairs = function() return next, values, nil end,
    __tostring = function() return "params{ " .. table.concat(parts, ", ") .. " }" end,
  })
  run.params, run.params_values = P, values
  if cli.out then run.out() end
  return P
end

-- tp.params{ ... } calls params; tp.params.int declares an integer
return setmetatable({ int = int }, { __call = function(_, defaults, presets) return params(defaults, presets) end })
