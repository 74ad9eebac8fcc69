-- Lua-defined energies and CVs against the built-in ones (tempera-models(5)):
-- equal energies and dE on random configurations, the same exact
-- enumeration, and errors raised at this file's line.
local tp = require "tempera"
local ffi = require "ffi"

local L = 4
local lat = tp.lattice.square(L)
local right, down = lat:shift{ 1, 0 }, lat:shift{ 0, 1 }
local diag, anti = lat:shift{ 1, 1 }, lat:shift{ 1, -1 }
local J2, h = 0.3, 0.2

-- next-nearest-neighbour Ising written by hand, with and without a local dE
local function energy(x)
  local e = 0
  for i = 0, lat.n - 1 do
    local s = 2 * x[i] - 1
    e = e - s * (2 * x[right[i]] - 1) - s * (2 * x[down[i]] - 1)
          - J2 * s * ((2 * x[diag[i]] - 1) + (2 * x[anti[i]] - 1)) - h * s
  end
  return e
end
local nb1, z1 = lat:neighbors(1)
local nb2, z2 = lat:neighbors(2)
local function de(x, i, s)
  if s == x[i] then return 0 end
  local f1, f2 = 0, 0
  for k = 0, z1 - 1 do f1 = f1 + 2 * x[nb1[i * z1 + k]] - 1 end
  for k = 0, z2 - 1 do f2 = f2 + 2 * x[nb2[i * z2 + k]] - 1 end
  return 2 * (2 * x[i] - 1) * (f1 + J2 * f2 + h)
end

local builtin = tp.model.ising{ lattice = lat, J = { 1, J2 }, h = h }
local user = tp.model.lua{ lattice = lat, states = 2, energy = energy, de = de, name = "nnn" }
local slow = tp.model.lua{ lattice = lat, states = 2, energy = energy }   -- generic dE

local r = tp.rng{ seed = 11, stream = 0 }
local x = lat:config()
for trial = 1, 200 do
  for i = 0, lat.n - 1 do x[i] = r:below(2) end
  local eb, eu = builtin:energy(x), user:energy(x)
  assert(math.abs(eb - eu) < 1e-12, ("trial %d: built-in %.17g, Lua %.17g"):format(trial, eb, eu))
  local i, s = r:below(lat.n), r:below(2)
  local d1, d2, d3 = builtin:de(x, i, s), user:de(x, i, s), slow:de(x, i, s)
  assert(math.abs(d1 - d2) < 1e-12 and math.abs(d1 - d3) < 1e-12, ("trial %d: dE %g %g %g"):format(trial, d1, d2, d3))
  local j = r:below(lat.n)
  assert(math.abs(builtin:de_swap(x, i, j) - user:de_swap(x, i, j)) < 1e-12, "swap dE")
end

-- batched energies
local B = 8
local xs = lat:config(B)
for k = 0, B * lat.n - 1 do xs[k] = r:below(2) end
local eb, eu = builtin:energies(xs, B), user:energies(xs, B)
for b = 0, B - 1 do assert(math.abs(eb[b] - eu[b]) < 1e-12, "batch energy " .. b) end

-- exact enumeration: the Lua path (Gray code driving user de) equals C
local m = tp.cv.magnetization(lat)
local lua_m = tp.cv.lua{ lattice = lat, fn = function(y)
  local s = 0
  for i = 0, lat.n - 1 do s = s + y[i] end
  return (2 * s - lat.n) / lat.n
end, range = { -1, 1 }, name = "lua_m" }
local rb = tp.exact(builtin, { 0.3, 0.6 }, { cv = m, points = 17 })
local ru = tp.exact(user, { 0.3, 0.6 }, { cv = lua_m, points = 17 })
for b = 1, 2 do
  assert(math.abs(rb[b].log_z - ru[b].log_z) < 1e-10 * math.abs(rb[b].log_z), "log Z")
  assert(math.abs(rb[b].mean_e - ru[b].mean_e) < 1e-9, "mean E")
  assert(math.abs(rb[b].heat_capacity - ru[b].heat_capacity) < 1e-9, "C")
  for g = 1, 17 do assert(math.abs(rb[b].marginal[g] - ru[b].marginal[g]) < 1e-12, "marginal " .. g) end
end

-- a CV returning NaN is an error naming the CV, raised at the caller's line
local bad = tp.cv.lua{ lattice = lat, fn = function() return 0 / 0 end, name = "broken" }
local ok, err = pcall(function() bad:eval(x, 1) end)
assert(not ok and err:find("model_lua.lua:%d+: cv broken returned nan"), err)
local bad2 = tp.cv.lua{ lattice = lat, dim = 2, fn = function() return 1 end, name = "short" }
ok, err = pcall(function() bad2:eval(x, 1) end)
assert(not ok and err:find("cv short returned nil %(value 2%)"), err)
-- an energy returning NaN in a batch
local nan_model = tp.model.lua{ lattice = lat, energy = function() return 0 / 0 end, name = "nan_energy" }
ok, err = pcall(function() nan_model:energies(xs, B) end)
assert(not ok and err:find("model_lua.lua:%d+: nan_energy: energy function returned nan"), err)
