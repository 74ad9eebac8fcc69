-- recipes/metad_ising.lua -- well-tempered metadynamics MCMC on the Ising model.
--
-- What it shows: WT-MetaD (man tempera-mc(5), tempera-methods(7)) along the magnetisation m with the
-- papers' settings (bias factor 10, sigma 0.05, Gaussian kernel, B = 128
-- chains depositing one hill each every 64 sweeps, height per cycle W from
-- the paper for each beta).  On lattices up to 5x5 the exact PMF along m
-- comes from enumeration, and the recipe prints the RMSE (in k_B T, minima
-- aligned) of F = -gamma/(gamma-1) V against it as deposition goes on; then
-- it freezes the bias, samples the biased ensemble and reweights with
-- log w = beta V to recover the unbiased marginal P(m), compared with the
-- exact one (JS divergence, NESS).  The grid has one point per possible m
-- (L^2 + 1 points) unless points = is set (the paper: 257 on 16x16).
-- Expected time: under a second on 2 CPU cores with the defaults (4x4, beta 0.6).
local tp = require "tempera"

-- counts are declared integers (tp.params.int refuses --set cycles=2.5);
-- height is a number: 0 picks the paper's W, --set height=0.1667 sets one
local int = tp.params.int
local P = tp.params{ L = int(4), beta = 0.6, chains = int(128), pace = int(64), cycles = int(800),
  record_every = int(100), points = int(0), sigma = 0.05, bias_factor = 10, height = 0,
  frozen_samples = int(200), seed = 7 }

local W_paper = { [0.6] = 0.1667, [0.4407] = 1.1345, [0.28] = 1.7855 }
local W = P.height > 0 and P.height or W_paper[P.beta] or 0.5
local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local points = P.points > 0 and P.points or P.L * P.L + 1
local kT = 1 / P.beta

local ref
if P.L <= 5 then
  ref = tp.exact(model, P.beta, { cv = m, points = points, range = { -1, 1 } })
end

local bias = tp.bias.grid{ cv = m, points = points, sigma = P.sigma, height = W,
  bias_factor = P.bias_factor, beta = P.beta }
print(string.format("# WT-MetaD Ising %dx%d beta %g: %d chains, hill cycle every %d sweeps, W %g, gamma %g, sigma %g, grid %d",
  P.L, P.L, P.beta, P.chains, P.pace, W, P.bias_factor, P.sigma, points))
local run = tp.mc.metad{ model = model, cv = m, bias = bias, beta = P.beta, chains = P.chains, pace = P.pace,
  cycles = P.cycles, reference = ref and ref.pmf, record_every = P.record_every, seed = P.seed }
if ref then
  print("cycle   hills     RMSE/kT")
  for _, h in ipairs(run.history) do
    print(string.format("%5d %7d %11.4f", h.cycle, h.hills, h.rmse / kT))
  end
end

-- PMF from the bias against the exact one
local F, axes = bias:pmf()
print("m        F_bias/kT" .. (ref and "   F_exact/kT" or ""))
local fmin = ref and math.huge
if ref then for i = 1, #ref.pmf do if ref.pmf[i] < fmin then fmin = ref.pmf[i] end end end
for i = 1, bias.size do
  if not ref or ref.pmf[i] < math.huge then
    print(string.format("%+.4f %11.4f", axes[1][i], F[i - 1] / kT)
      .. (ref and string.format(" %12.4f", (ref.pmf[i] - fmin) / kT) or ""))
  end
end

-- frozen bias, reweighted to the unbiased ensemble
local fr = run:frozen{ samples = P.frozen_samples }
local mg = run:marginal(fr)
if ref then
  local js = tp.analysis.js(mg.p, ref.marginal)
  print(string.format("frozen bias: %d samples, NESS %.3f, JS(reweighted P(m), exact) %.2e", fr.n, mg.ness, js))
else
  print(string.format("frozen bias: %d samples, NESS %.3f", fr.n, mg.ness))
end
