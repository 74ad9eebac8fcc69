-- tempera.mc / tempera.bias / tempera.observables from Lua: the bias API
-- (textbook hill, 2-D, save/load, schedule setters, out-of-grid report),
-- chains and tp.mc.sample, WT-MetaD with a Lua hill schedule, the Lua-model
-- driver against exact enumeration (z-score, 4.5 SE), Wang-Landau, and
-- errors raised at this file's line.
local tp = require "tempera"
local ffi = require "ffi"

local function raises(pat, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pat)
  assert(tostring(err):find(pat), err)
  assert(tostring(err):find("mc_api.lua:%d+:"), "error not at the caller's line: " .. tostring(err))
end

-- ---- bias -------------------------------------------------------------------
local b = tp.bias.grid{ range = { -1, 1 }, points = 11, sigma = 0.2, height = 1, bias_factor = 10, kT = 1 }
b:deposit{ 0 }
assert(math.abs(b:value(0) - 1) < 1e-12)
b:deposit{ { 0 } }
assert(math.abs(b:value(0) - (1 + math.exp(-1 / 9))) < 1e-12)
local F, axes = b:pmf()
assert(#axes == 1 and #axes[1] == 11 and math.abs(axes[1][6]) < 1e-12 and axes[1][11] == 1)
assert(F[5] == 0)
local info = b:info()
assert(info.nhills == 2 and info.kernel == "gaussian" and info.out_of_grid == "clamp")
b:deposit{ 3 }
assert(b:out_of_grid_report():find("1 deposit and 0 evaluation points fell outside"), b:out_of_grid_report())
local path = os.tmpname()
b:save(path)
local b2 = tp.bias.load(path)
assert(b2:value(0) == b:value(0) and b2.size == 11)
os.remove(path)
local c = b:clone()
c:set{ height = 2, sigma = 0.1, bias_factor = 1 }
c:reset()
c:deposit{ 0 }
assert(math.abs(c:value(0) - 2) < 1e-12 and b:value(0) ~= 2)
raises("bias: a point needs 1 coordinates, got 2", function() b:deposit{ 1, 2 } end)
raises("kT must be > 0", function() tp.bias.grid{ range = { -1, 1 }, points = 5, sigma = 0.1, height = 1, kT = -1 } end)
raises("out_of_grid must be 'clamp', 'skip' or 'error'",
  function() tp.bias.grid{ range = { -1, 1 }, points = 5, sigma = 0.1, height = 1, kT = 1, out_of_grid = "wrap" } end)
raises("points%[1%] must be an integer >= 2, got 2.5",
  function() tp.bias.grid{ range = { -1, 1 }, points = 2.5, sigma = 0.1, height = 1, kT = 1 } end)
raises("unknown option 'bins'", function() tp.bias.grid{ range = { -1, 1 }, bins = 5, points = 5, height = 1, kT = 1 } end)
-- 2-D with a CV's default range
local L = 4
local plat = tp.lattice.square(L)
local sx = tp.cv.simplex(plat)
local b3 = tp.bias.grid{ cv = sx, points = 17, sigma = 0.05, height = 0.1, beta = 1.005 }
assert(b3.dim == 2 and b3.size == 17 * 17)
b3:deposit({ { 0, 0 }, { 1, 0 } })
assert(b3:info().nhills == 2)

-- ---- chains, sample ------------------------------------------------------------
local lat = tp.lattice.square(L)
local m = tp.model.ising{ lattice = lat }
local mag = tp.cv.magnetization(lat)
local ch = tp.mc.chains{ model = m, chains = 4, seed = 3 }
ch:sweep("metropolis", 0.4, 10):sweep("swendsen_wang", 0.4, 2):sweep("wolff", 0.4, 3):sweep("heatbath", 0.4, 1)
local e = ch:energies()
assert(e[0] == m:energy(ch:states()))
raises("beta must be > 0, got 0", function() ch:sweep("metropolis", 0, 1) end)
raises("unknown method 'gibbs'", function() ch:sweep("gibbs", 1, 1) end)

local r = tp.mc.sample{ model = m, beta = 0.4407, method = "swendsen_wang", chains = 16, burn_in = 50,
  samples = 400, seed = 1, progress = false, cv = mag, corr = true }
local ex = tp.exact(m, 0.4407)
local z = (r.energy.mean - ex.mean_e) / r.energy.err
assert(math.abs(z) < 4.5, "SW <E> z = " .. z)
assert(r.corr[1].mean == 1 and #r.corr == 3 and r.mag.mean > 0 and r.heat_capacity.err > 0)
assert(tp.observables.format({ mean = 1.23456, err = 0.0123 }) == "1.235 +- 0.012")

-- ---- Lua model through the Lua driver: same physics ---------------------------------
local right, down = lat:shift{ 1, 0 }, lat:shift{ 0, 1 }
local nb, zz = lat:neighbors(1)
local lm = tp.model.lua{ lattice = lat, states = 2,
  energy = function(x)
    local s = 0
    for i = 0, lat.n - 1 do s = s - (2 * x[i] - 1) * ((2 * x[right[i]] - 1) + (2 * x[down[i]] - 1)) end
    return s
  end,
  de = function(x, i, s)
    if s == x[i] then return 0 end
    local f = 0
    for k = 0, zz - 1 do f = f + 2 * x[nb[i * zz + k]] - 1 end
    return 2 * (2 * x[i] - 1) * f
  end }
local rl = tp.mc.sample{ model = lm, beta = 0.4407, chains = 8, burn_in = 100, samples = 1500, seed = 2, progress = false }
z = (rl.energy.mean - ex.mean_e) / rl.energy.err
assert(math.abs(z) < 4.5, "Lua-model Metropolis <E> z = " .. z)
local rh = tp.mc.sample{ model = lm, beta = 0.4407, method = "heatbath", chains = 8, burn_in = 100, samples = 1000,
  seed = 3, progress = false }
z = (rh.energy.mean - ex.mean_e) / rh.energy.err
assert(math.abs(z) < 4.5, "Lua-model heat-bath <E> z = " .. z)
-- swaps conserve the number of up spins
local chs = tp.mc.chains{ model = lm, chains = 2, seed = 5 }
local function ups(ch) local c = 0; for i = 0, 2 * lat.n - 1 do c = c + ch:states()[i] end; return c end
local u0 = ups(chs)
chs:sweep("swap", 0.5, 20)
assert(ups(chs) == u0 and chs:acceptance() > 0)
raises("needs a built%-in Ising or Potts model",
  function() tp.mc.chains{ model = lm, chains = 1, seed = 1 }:sweep("swendsen_wang", 1, 1) end)

-- ---- WT-MetaD with a Lua schedule ------------------------------------------------
local exm = tp.exact(m, 0.6, { cv = mag, points = 17, range = { -1, 1 } })
local bias = tp.bias.grid{ cv = mag, points = 17, sigma = 0.05, height = 0.5, bias_factor = 10, beta = 0.6 }
local calls = 0
local run = tp.mc.metad{ model = m, cv = mag, bias = bias, beta = 0.6, chains = 32, pace = 4, cycles = 300,
  seed = 4, reference = exm.pmf, record_every = 50, progress = false,
  height = function(cycle, bb) calls = calls + 1; return cycle < 100 and 1.0 or 0.5 end }
assert(calls == 300 and bias:info().nhills == 300 * 32 and #run.history == 7)
assert(run.history[1].cycle == 0 and run.history[7].cycle == 300)
assert(run.history[7].rmse < run.history[1].rmse, "PMF RMSE did not decrease")
local fr = run:frozen{ samples = 50 }
assert(fr.n == 50 * 32)
local mg = run:marginal(fr)
assert(mg.ness > 0 and mg.ness <= 1)
raises("has dimension 2 but the bias grid has 1",
  function() tp.mc.metad{ model = m, cv = tp.cv.fractions(lat, 2), bias = bias, beta = 1, cycles = 1 } end)
raises("is for 9 sites, the model has 16",
  function() tp.mc.metad{ model = m, cv = tp.cv.magnetization(tp.lattice.square(3)), bias = bias, beta = 1, cycles = 1 } end)
raises("beta must be > 0", function() tp.mc.metad{ model = m, cv = mag, bias = bias, beta = -1, cycles = 1 } end)

-- a Lua CV (here m written in Lua) with a built-in model runs on the Lua driver
local lmag = tp.cv.lua{ lattice = lat, dim = 1, range = { -1, 1 }, fn = function(x)
  local s = 0
  for i = 0, lat.n - 1 do s = s + 2 * x[i] - 1 end
  return s / lat.n
end }
local bl = tp.bias.grid{ cv = lmag, points = 17, sigma = 0.05, height = 0.5, beta = 0.6 }
local runl = tp.mc.metad{ model = m, cv = lmag, bias = bl, beta = 0.6, chains = 4, pace = 2, cycles = 20,
  seed = 1, progress = false }
assert(bl:info().nhills == 80 and runl.cycle == 20)

-- ---- Wang-Landau -------------------------------------------------------------------
local wl = tp.mc.wang_landau{ model = m, emin = -32, emax = 32, de = 4, ln_f_final = 1e-4, seed = 1 }
assert(#wl.log_g == 17 and wl.log_g[2] == -math.huge)
assert(math.abs(wl.log_g[1] - math.log(2)) < 0.3, "ln g(ground) = " .. wl.log_g[1])
local th = wl.thermo(0.4407)
assert(math.abs(th.mean_e - ex.mean_e) < 0.5, "WL <E> " .. th.mean_e)

-- ---- a CV must be built on the model's lattice and states ---------------------------
local function fails(f, want)
  local ok, err = pcall(f)
  assert(not ok and tostring(err):find(want, 1, true), "expected '" .. want .. "', got " .. tostring(err))
end
local m4 = tp.model.ising{ lattice = tp.lattice.square(4) }
fails(function() tp.mc.sample{ model = m4, beta = 0.4, cv = tp.cv.magnetization(tp.lattice.square(8)), chains = 2,
  burn_in = 1, samples = 2, seed = 1 } end, "tp.mc.sample: CV 'magnetization' is for 64 sites, the model has 16")
fails(function() tp.mc.sample{ model = m4, beta = 0.4, cv = tp.cv.magnetization(tp.lattice.square(3)), chains = 2,
  burn_in = 1, samples = 2, seed = 1 } end, "is for 9 sites, the model has 16")
local p4 = tp.model.potts{ lattice = tp.lattice.square(4), q = 3 }
fails(function() tp.mc.chains{ model = p4, chains = 2, seed = 1 }:cv(tp.cv.fraction(p4.lattice, 1, 2)) end,
  "chains:cv: CV 'fraction' is for 2 states per site, the model has 3")
fails(function() tp.mc.metad{ model = p4, cv = tp.cv.fraction(tp.lattice.square(3), 0, 3),
  bias = tp.bias.grid{ cv = tp.cv.fraction(tp.lattice.square(3), 0, 3), points = 9, sigma = 0.1, height = 0.1, beta = 1 },
  beta = 1, chains = 2, cycles = 1, seed = 1, progress = false } end, "tp.mc.metad: CV 'fraction' is for 9 sites")

-- counts of sweeps and attempts are whole numbers (FFI would truncate 1.5),
-- and an s_out array must hold every chain's CV
local ch2 = tp.mc.chains{ model = m4, chains = 2, seed = 1 }
fails(function() ch2:sweep("metropolis", 0.4, 1.5) end, "chains:sweep: the number of sweeps must be a whole number >= 0, got 1.5")
fails(function() ch2:biased(tp.cv.magnetization(m4.lattice), tp.bias.grid{ cv = tp.cv.magnetization(m4.lattice), points = 17,
  sigma = 0.1, height = 0.1, beta = 0.4 }, 0.4, 16, ffi.new("double[1]")) end, "chains:biased: s_out holds 1 values, 2 needed")
