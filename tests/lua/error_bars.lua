-- Honest error bars: tp.mc.sample warns when a chain is shorter than ~50
-- autocorrelation times or when the chains' means scatter beyond their
-- quoted error (and not on a healthy run); Wang-Landau ln g and thermo, and
-- run:marginal, come with error bars that cover the exact answers.
local tp = require "tempera"
local ffi = require "ffi"

-- a deliberately short run near the critical point: warned
local big = tp.model.ising{ lattice = tp.lattice.square(16) }
local short = tp.mc.sample{ model = big, beta = 0.44, chains = 4, burn_in = 10, samples = 40, seed = 2,
  progress = false, warn = false }
assert(short.warnings and short.energy.warnings, "a 40-sample run at the critical point was not warned about")
assert(short.energy.warnings[1]:find("autocorrelation times"), short.energy.warnings[1])
-- a healthy one: no warning
local small = tp.model.ising{ lattice = tp.lattice.square(4) }
local ok = tp.mc.sample{ model = small, beta = 0.2, method = "swendsen_wang", chains = 8, samples = 2000, seed = 2,
  progress = false }
assert(ok.warnings == nil, "warned on a healthy run: " .. table.concat(ok.warnings or {}, "; "))

-- chains that disagree: 8 chains, each with its own offset
local B, T = 8, 2000
local x = ffi.new("double[?]", B * T)
local r = tp.rng(4)
for b = 0, B - 1 do for t = 0, T - 1 do x[b * T + t] = 0.05 * b + r:normal() end end
local s = tp.observables.stats(x, B, T)
local found
for _, w in ipairs(s.warnings or {}) do if w:find("disagree") then found = w end end
assert(found, "chains with different means were not flagged")
for b = 0, B - 1 do for t = 0, T - 1 do x[b * T + t] = r:normal() end end
assert(tp.observables.stats(x, B, T).warnings == nil, "independent normal chains were flagged")

-- Wang-Landau: 4 walkers; ln g and the thermodynamics against exact
local lat = tp.lattice.square(4)
local wl = tp.mc.wang_landau{ model = small, emin = -32, emax = 32, de = 4, ln_f_final = 1e-5, seed = 5 }
local g = {}
local xs = ffi.new("uint8_t[16]")
for st = 0, 2 ^ 16 - 1 do
  for i = 0, 15 do xs[i] = bit.band(bit.rshift(st, i), 1) end
  local k = math.floor((small:energy(xs) + 32) / 4 + 0.5) + 1
  g[k] = (g[k] or 0) + 1
end
local worst = 0
for k = 1, #wl.energies do
  if g[k] then
    assert(wl.log_g_err[k] > 0, "no error bar for ln g at E = " .. wl.energies[k])
    worst = math.max(worst, math.abs(wl.log_g[k] - math.log(g[k])) / wl.log_g_err[k])
  end
end
print(string.format("Wang-Landau: largest |ln g - exact| / err = %.2f over %d energies", worst, #wl.energies))
assert(worst < 5, "ln g is " .. worst .. " error bars from exact")
local th, ex = wl.thermo(0.4407), tp.exact(small, 0.4407)
assert(math.abs(th.mean_e - ex.mean_e) < 5 * th.err.mean_e, "WL <E> outside 5 error bars")
assert(th.err.heat_capacity > 0 and th.err.log_z > 0)

-- run:marginal: chains' spread as the error bar of the reweighted marginal
local m = tp.cv.magnetization(lat)
local beta = 0.5
local exm = tp.exact(small, beta, { cv = m, points = 17, range = { -1, 1 } })
local bias = tp.bias.grid{ cv = m, points = 17, sigma = 0.1, height = 0.5, beta = beta }
local run = tp.mc.metad{ model = small, cv = m, bias = bias, beta = beta, chains = 32, pace = 16, cycles = 400,
  seed = 6, progress = false }
local mg = run:marginal(run:frozen{ samples = 200 })
local zmax = 0
for i = 1, 17 do
  if exm.marginal[i] > 0 then
    assert(mg.p_err[i] > 0, "no error bar at grid point " .. i)
    zmax = math.max(zmax, math.abs(mg.p[i] - exm.marginal[i]) / mg.p_err[i])
  end
end
print(string.format("run:marginal: largest |P - exact| / err = %.2f", zmax))
assert(zmax < 5, "the reweighted marginal is " .. zmax .. " error bars from exact")

-- tp.observables' weighted correlation, histogram and PMF distance run on
-- the reweighting kernels: checked against sums written here
local lat3 = tp.lattice.square(3)
local xs3 = ffi.new("uint8_t[?]", 3 * 9)
for i = 0, 26 do xs3[i] = (i * 7 + math.floor(i / 5)) % 2 end
local wts = ffi.new("double[3]", 0.5, 2, 1.5)
local rows = tp.observables.corr_rows(lat3, xs3, 3, { rmax = 1 })
local c = tp.observables.corr(lat3, xs3, 3, { rmax = 1, weights = wts })
for r = 0, 1 do
  local s = 0
  for b = 0, 2 do s = s + wts[b] * rows[b * 2 + r] end
  assert(math.abs(c[r + 1] - s / 4) < 1e-14, "weighted corr at r = " .. r)
end
local hv = ffi.new("double[5]", 0, 0.1, 0.5, 1.0, 2.0)
local hw = ffi.new("double[5]", 1, 2, 3, 4, 5)
local hh, nout = tp.observables.histogram(hv, 5, { lo = 0, hi = 1, bins = 2, weights = hw })
assert(math.abs(hh[1] - 3) < 1e-12 and math.abs(hh[2] - 7) < 1e-12 and nout == 1, "weighted histogram")
local hu, nu = tp.observables.histogram(hv, 5, { lo = 0, hi = 1, bins = 2 })
assert(hu[1] == 2 and hu[2] == 2 and nu == 1, "histogram")
assert(math.abs(tp.observables.pmf_rmse({ 1, 2, math.huge }, { 0, 2, 5 }) - math.sqrt(0.5)) < 1e-15, "pmf_rmse")
