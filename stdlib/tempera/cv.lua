-- tempera.cv: collective variables (runtime/cv.c), man tempera-models(5).
--   tp.cv.magnetization(lat)         m = mean(2x - 1), range [-1, 1]
--   tp.cv.up_fraction(lat)           fraction of token 1, range [0, 1]
--   tp.cv.x_au(lat)                  Au fraction (token 1) of an alloy
--   tp.cv.fraction(lat, token, q)    fraction of one token
--   tp.cv.fractions(lat, q)          (c_0, ..., c_{q-1})
--   tp.cv.simplex(lat)               Potts q = 3: (c0 - (c1+c2)/2, sqrt3/2 (c1 - c2))
--   tp.cv.order(lat)                 L1_2/L1_0 order parameter Q (fcc), range [0, 1]
--   tp.cv.lua{ lattice = lat, dim = 1, fn = function(x) return v1, ... end, range = {...} }
-- Methods: cv:value(x) -> dim numbers; cv:eval(x, B [, out]) -> double[B*dim].
-- cv.dim, cv.range = { {lo, hi}, ... } (default grid box), cv.name, cv.c (C tp_cv* or nil).
local F = require "tempera.ffi"
local util = require "tempera.util"
local lattice = require "tempera.lattice"
local C, ffi = F.C, F.ffi

local M = {}

local CV = {}
CV.__index = CV

function CV:__tostring()
  return string.format("cv %s (dim %d)", self.name, self.dim)
end

local scratch = {}
function CV:value(x)
  local out = scratch[self.dim]
  if not out then out = ffi.new("double[?]", self.dim); scratch[self.dim] = out end
  util.check(C.tp_cv_eval(self.c, out, x, 1))
  if self.dim == 1 then return out[0] end
  if self.dim == 2 then return out[0], out[1] end
  local t = {}
  for k = 0, self.dim - 1 do t[k + 1] = out[k] end
  return unpack(t)
end

function CV:eval(x, B, out)
  B = B or 1
  out = out or ffi.new("double[?]", B * self.dim)
  util.check(C.tp_cv_eval(self.c, out, x, B))
  return out
end

local KIND = { magnetization = 1, fraction = 2, fractions = 3, simplex = 4, order = 5 }

local function builtin(kind, lat, q, token, name, range)
  util.check_arg(lattice.is_lattice(lat), "tp.cv.%s: expected a lattice, got %s", name, type(lat))
  local c = util.check_ptr(C.tp_cv_init(KIND[kind], lat, q, token or 0))
  c = ffi.gc(c, C.tp_cv_free)
  -- walls: the ends of range are hard edges of the CV in each dimension
  -- (a magnetisation cannot pass +-1, a fraction 0 or 1); the simplex
  -- projection's edges are not along its axes
  return setmetatable({ c = c, dim = c.dim, q = q, n = c.n, name = name, range = range, lattice = lat,
    walls = kind ~= "simplex" }, CV)
end

function M.magnetization(lat) return builtin("magnetization", lat, 2, 0, "magnetization", { { -1, 1 } }) end
function M.up_fraction(lat) return builtin("fraction", lat, 2, 1, "up_fraction", { { 0, 1 } }) end
function M.x_au(lat) return builtin("fraction", lat, 2, 1, "x_au", { { 0, 1 } }) end
function M.fraction(lat, token, q)
  q = q or 2
  return builtin("fraction", lat, q, token or 1, "fraction", { { 0, 1 } })
end
function M.fractions(lat, q)
  util.check_arg(type(q) == "number", "tp.cv.fractions(lat, q): q is required")
  local r = {}
  for k = 1, q do r[k] = { 0, 1 } end
  return builtin("fractions", lat, q, 0, "fractions", r)
end
function M.simplex(lat, q)
  util.check_arg(q == nil or q == 3, "tp.cv.simplex: the 2-D simplex projection is for q = 3, got %s", tostring(q))
  return builtin("simplex", lat, 3, 0, "simplex", { { -0.6, 1.1 }, { -1.0, 1.0 } })
end
function M.order(lat) return builtin("order", lat, 2, 1, "order", { { 0, 1 } }) end

-- ---- Lua-defined CVs ------------------------------------------------------
local LuaCV = setmetatable({}, { __index = CV })
LuaCV.__index = LuaCV
LuaCV.__tostring = CV.__tostring

local function nan_error(self, b, k, v)
  util.raise("cv %s returned %s (value %d) for configuration %d", self.name, tostring(v), k, b + 1)
end

function LuaCV:value(x)
  return self.fn(x, self.lattice)
end

-- Each value is checked: a NaN or a missing value is an error naming the CV.
function LuaCV:eval(x, B, out)
  B = B or 1
  local dim, n, fn, lat = self.dim, self.n, self.fn, self.lattice
  out = out or ffi.new("double[?]", B * dim)
  if dim == 1 then
    for b = 0, B - 1 do
      local v = fn(x + b * n, lat)
      if type(v) ~= "number" or v ~= v then nan_error(self, b, 1, v) end
      out[b] = v
    end
  else
    for b = 0, B - 1 do
      local vals = { fn(x + b * n, lat) }
      for k = 1, dim do
        local v = vals[k]
        if type(v) ~= "number" or v ~= v then nan_error(self, b, k, v) end
        out[b * dim + k - 1] = v
      end
    end
  end
  return out
end

function M.lua(o)
  o = util.options("tp.cv.lua", o, {
    lattice = { required = true }, dim = { type = "integer", default = 1 },
    fn = { type = "callable", required = true }, range = { type = "table" },
    name = { type = "string", default = "lua" }, q = { type = "integer", default = 2 },
  })
  util.check_arg(lattice.is_lattice(o.lattice), "tp.cv.lua: option 'lattice' must be a tp.lattice")
  util.check_arg(o.dim >= 1 and o.dim <= 8, "tp.cv.lua: dim must be in 1..8, got %d", o.dim)
  local range = o.range
  if range and type(range[1]) == "number" then range = { range } end
  if range then
    util.check_arg(#range == o.dim, "tp.cv.lua: range must give {lo, hi} for each of the %d dimensions", o.dim)
  end
  return setmetatable({ fn = o.fn, dim = o.dim, n = o.lattice.n, q = o.q, name = o.name, range = range,
    lattice = o.lattice }, LuaCV)
end

function M.is_cv(x)
  local mt = getmetatable(x)
  return mt == CV or mt == LuaCV
end

function M.get(name, ...)
  local f = rawget(M, name)
  if type(f) ~= "function" or name == "get" or name == "is_cv" then
    util.raise("unknown cv '%s' (known: fraction, fractions, lua, magnetization, order, simplex, up_fraction, x_au)", tostring(name))
  end
  return f(...)
end

util.doc(M.lua, [[
tp.cv.lua{ lattice = lat, dim = 1, fn = function(x, lat) return v1 [, v2 ...] end,
           range = {lo, hi} or {{lo, hi}, ...}, name = "mine" }
  A user CV over an FFI uint8_t* configuration.  cv:eval checks every value
  and raises if one is NaN or missing.]])
util.doc(M, [[
tempera.cv -- collective variables: magnetization(lat), up_fraction(lat), x_au(lat),
fraction(lat, token, q), fractions(lat, q), simplex(lat), order(lat), lua{...}.
Methods: cv:value(x) -> numbers, cv:eval(x, B) -> double[B*dim].  man tempera-models.]])

-- a typo like tp.cv.hexagonal is an error at the recipe's line
return setmetatable(M, { __index = function(_, k)
  util.raise("tp.cv has no '%s' (known: fraction, fractions, lua, magnetization, order, simplex, up_fraction, x_au)", tostring(k))
end })
