-- recipes/metad_cuau.lua -- WT-MetaD MCMC on the Cu-Au alloy along x_Au.
--
-- What it shows: the cluster-expansion alloy (tempera-models(5), tempera-methods(7)) sampled with
-- semi-grand-canonical Metropolis flips on E + V(x_Au), the bias in eV
-- (kT = k_B T), gamma 10, sigma 0.05, W = 0.5 k_B T per cycle (the paper's
-- 0.02154 / 0.0293 / 0.0517 eV at 500 / 680 / 1200 K), B = 128 chains, a
-- hill cycle every 64 sweeps.  The default 2x2x4 cell (16 sites) has an
-- exact PMF along x_Au from enumeration (grid 17 = one point per
-- composition) and the RMSE against it is printed; cell = 444 runs the
-- paper's 4x4x4 cell (grid 65) without a reference.  The PMF says how much
-- free energy each composition costs at h = 0: the ordered compounds
-- Cu3Au (x = 0.25) and CuAu (x = 0.5) show up as minima at low T.
-- Expected time: about 1 s on 2 CPU cores with the defaults (2x2x4, 680 K).
local tp = require "tempera"

local P = tp.params{ T = 680, cell = "224", chains = 128, pace = 64, cycles = 300, record_every = 50,
  sigma = 0.05, bias_factor = 10, seed = 5 }

local n = {}
for d in P.cell:gmatch("%d") do n[#n + 1] = tonumber(d) end
assert(#n == 3, "cell must be three digits, e.g. 224 or 444")
local lat = tp.lattice.fcc{ n = n }
local model = tp.model.cluster_expansion{ lattice = lat, ce = "cuau" }
local cv = tp.cv.x_au(lat)
local kT = tp.model.kB * P.T
local beta = 1 / kT
local W = 0.5 * kT
local points = lat.n + 1

local ref
if lat.n <= 20 then ref = tp.exact(model, beta, { cv = cv, points = points, range = { 0, 1 } }) end
local bias = tp.bias.grid{ cv = cv, points = points, sigma = P.sigma, height = W, bias_factor = P.bias_factor, kT = kT }
print(string.format("# WT-MetaD Cu-Au %s (%d sites) at %g K: x_Au grid %d, W %.5f eV, %d chains, pace %d sweeps",
  P.cell, lat.n, P.T, points, W, P.chains, P.pace))
local run = tp.mc.metad{ model = model, cv = cv, bias = bias, beta = beta, chains = P.chains, pace = P.pace,
  cycles = P.cycles, reference = ref and ref.pmf, record_every = P.record_every, seed = P.seed }
if ref then
  print("cycle   hills     RMSE/kT")
  for _, h in ipairs(run.history) do print(string.format("%5d %7d %11.4f", h.cycle, h.hills, h.rmse / kT)) end
end
local F, axes = bias:pmf()
local fmin = math.huge
if ref then for i = 1, #ref.pmf do fmin = math.min(fmin, ref.pmf[i]) end end
print("x_Au    F_bias (meV)" .. (ref and "  F_exact (meV)" or ""))
for i = 1, bias.size do
  print(string.format("%.4f %12.2f", axes[1][i], 1000 * F[i - 1])
    .. (ref and string.format(" %14.2f", 1000 * (ref.pmf[i] - fmin)) or ""))
end
