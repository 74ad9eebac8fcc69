-- recipes/quickstart.lua -- the default experiment ('make run').
--
-- What it shows: one small, fully checkable sampling study of the 4x4
-- periodic Ising model at low temperature (beta 0.6, two ordered phases),
-- using each layer of tempera:
--   1. exact enumeration of all 2^16 states (tp.exact): <E>, Mag. = E|m|,
--      heat capacity and the free-energy profile F(m) = -kT log P(m);
--   2. Swendsen-Wang and single-spin Metropolis chains (tp.mc.sample),
--      each estimate printed with its error bar and its distance from the
--      exact answer in standard errors (z);
--   3. well-tempered metadynamics along m (tp.bias + tp.mc.metad, the
--      papers' settings: gamma 10, sigma 0.05, 128 chains, a hill cycle every
--      64 sweeps), its PMF F = -gamma/(gamma-1) V against the exact one
--      (RMSE in kT after aligning minima), then sampling with the bias
--      frozen and reweighting (log w = beta V) back to the physical P(m);
--   4. the neural samplers (tp.nn + tp.train): a small lattice transformer
--      trained as a masked-diffusion sampler, once plainly (MDNS) and once
--      against a well-tempered bias along m (MetaDNS), with the same network
--      and budget; each is then sampled and reweighted to the physical
--      ensemble.  MDNS tends to settle on one sign of m; MetaDNS keeps both.
-- Every random stream is keyed by the seed, so the numbers repeat exactly
-- for the same seed and thread count ('--seed N' changes them).
-- Network results depend on the thread count (BLAS summation order), so
-- '--threads N' is part of what makes a run repeat bit for bit.
-- Expected time: about a minute on 2 CPU cores (the classical part about
-- 4 s); the final samples go to quickstart.tpd in the output directory.
local tp = require "tempera"

local P = tp.params{ L = 4, beta = 0.6, chains = 64, samples = 4000, cycles = 600,
  embed = 16, depth = 2, steps = 800, nn_samples = 2048, seed = 2024 }
if P.L > 5 then error("quickstart compares with exact enumeration: use L <= 5") end

local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0 }
local m = tp.cv.magnetization(lat)
local N, kT = lat.n, 1 / P.beta
local points = N + 1                       -- one grid point per possible m

-- 1. exact answers
local ex = tp.exact(model, P.beta, { cv = m, points = points, range = { -1, 1 } })
local exact = tp.evaluate.exact_row(model, P.beta, { reference = ex })   -- E|m|, Corr., P(m>0), log Z

print(string.format("# %dx%d periodic Ising, J = 1, beta = %g: exact enumeration of 2^%d states",
  P.L, P.L, P.beta, N))
print(string.format("# log Z = %.10f   F/N = %.10f", ex.log_z, ex.free_energy / N))

-- 2. Monte Carlo against the exact answers
print(string.format("%-22s %-8s %10s %21s %7s", "sampler", "obs", "exact", "estimate", "z"))
local worst = 0
local function row(name, obs, exact, s)
  local z = (s.mean - exact) / s.err
  worst = math.max(worst, math.abs(z))
  print(string.format("%-22s %-8s %10.6f %12.6f +- %.6f %7.2f", name, obs, exact, s.mean, s.err, z))
end
for k, method in ipairs { "swendsen_wang", "metropolis" } do
  local r = tp.mc.sample{ model = model, beta = P.beta, method = method, chains = P.chains,
    burn_in = 500, samples = P.samples, seed = P.seed + k, label = method }
  local name = method == "metropolis" and "Metropolis (sweeps)" or "Swendsen-Wang"
  row(name, "E/site", ex.energy_per_site, r.energy_per_site)
  row(name, "Mag.", exact.mag, r.mag)
  row(name, "C", ex.heat_capacity, r.heat_capacity)
end

-- 3. well-tempered metadynamics along m
local bias = tp.bias.grid{ cv = m, points = points, sigma = 0.05, height = 0.1667,
  bias_factor = 10, beta = P.beta }
local run = tp.mc.metad{ model = model, cv = m, bias = bias, beta = P.beta, chains = 128, pace = 64,
  cycles = P.cycles, reference = ex.pmf, record_every = math.floor(P.cycles / 3), seed = P.seed + 10 }
print("# WT-MetaD along m: PMF from the bias against the exact PMF")
for _, h in ipairs(run.history) do
  print(string.format("cycle %4d  hills %6d  RMSE %.4f kT", h.cycle, h.hills, h.rmse / kT))
end
local F, axes = bias:pmf()
local fmin = math.huge
for i = 1, points do fmin = math.min(fmin, ex.pmf[i]) end
local fr = run:frozen{ samples = 200 }
local mg = run:marginal(fr)
print(string.format("%8s %12s %12s %12s %12s", "m", "F_exact/kT", "F_bias/kT", "P_exact", "P_reweight"))
for i = 1, points do
  if ex.pmf[i] < math.huge then
    print(string.format("%+8.3f %12.4f %12.4f %12.6f %12.6f", axes[1][i], (ex.pmf[i] - fmin) / kT,
      F[i - 1] / kT, ex.marginal[i], mg.p[i]))
  end
end
local js = tp.analysis.js(mg.p, ex.marginal)
print(string.format("# frozen bias: %d samples, NESS %.3f, JS(reweighted P(m) || exact) = %.2e",
  fr.n, mg.ness, js))
print(string.format("# largest |z| of the Monte Carlo estimates: %.2f (%s)", worst,
  worst < 4 and "consistent with the exact answers" or "INCONSISTENT: check the samplers"))

-- 4. neural samplers: MDNS and MetaDNS with the same network size and budget
print(string.format("# neural samplers: transformer embed %d, depth %d; %d training steps each (batch 64, 8 replicates)",
  P.embed, P.depth, P.steps))
local rows = {}
for k, method in ipairs { "mdns", "metadns" } do
  local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = 4,
    seed = P.seed + 20, backend = "cpu" }
  local opts = { net = net, model = model, beta = P.beta, batch = 64, replicates = 8, resample_every = 10,
    steps = P.steps, lr = 1e-3, seed = P.seed + 20 }
  if method == "metadns" then
    opts.bias = tp.bias.grid{ cv = m, points = points, sigma = 0.05, height = 0.1667, bias_factor = 10,
      beta = P.beta }
    opts.replay = true
  else
    opts.cv = m
  end
  local tr = tp.train[method](opts)
  tr:close()
  local r = tr:evaluate{ n = P.nn_samples, reference = ex, L = P.L,
    dump = method == "metadns" and tp.out("quickstart.tpd") or nil }
  local rmse = r.pmf_rmse_bias or r.pmf_rmse_samples
  rows[k] = { name = method == "mdns" and "MDNS" or "MetaDNS", mag = r.mag, corr1 = r.corr1,
    ness_lik = r.ness_lik, ness_bias = r.ness_bias, js = r.js, pmf_rmse_bias = rmse and rmse / kT,
    p_plus = r.p_plus, log_z = r.log_z, s_step = r.s_step }
end
rows[3] = exact
print(tp.evaluate.table(rows))
print("# (Mag. = E|m|, Corr. = <s_i s_i+1>, NESS of likelihood / bias weights, JS of the reweighted P(m) vs exact,")
print("#  PMF RMSE in kT vs exact (MetaDNS: its bias; MDNS: reweighted samples), P(m>0) of the unweighted samples,")
print("#  s/step = wall seconds per training step)")
