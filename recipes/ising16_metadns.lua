-- recipes/ising16_metadns.lua -- the papers' Ising experiment at full size:
-- MDNS vs MetaDNS vs ground truth on the 16x16 periodic Ising model at
-- beta 0.6 (two ordered phases, m ~ +-0.97, a free-energy barrier of about
-- 20 k_B T between them), sized to run on 2 CPU cores in under an hour.
--
-- Three samplers with the same network and the same number of optimiser
-- steps, each then sampled and reweighted to the physical ensemble:
--   MDNS          tp.train.mdns: no bias (collapses onto one sign of m);
--   MetaDNS       tp.train.metadns as in the papers: a well-tempered bias
--                 along m built from the network's own samples, one hill
--                 of W/B per sample, CV-stratified replay; no warm start;
--   MetaDNS+warm  the same loop warm-started by tp.train.warm_start: a
--                 classical WT-MetaD run builds the starting bias, its
--                 walkers' configurations are the data of 'pretrain' steps
--                 of maximum likelihood (counted in the step budget) and
--                 seed the replay buffer; hills are importance-weighted
--                 (deposit = "weighted": the cycle's height is shared out
--                 by the weights exp(-beta (E + V)) / q, so the bias
--                 follows the biased target's CV marginal even where the
--                 network misses it).
-- Ground truth: Swendsen-Wang (128 chains) for Mag. = E|m| and
-- Corr. = <s_i s_i+1>; a long classical WT-MetaD MC run along m (its own
-- seed) followed by sampling under its frozen bias, reweighted, for the
-- free-energy profile F(m) over the whole range [-1, 1].
-- The table: Mag. and Corr. from likelihood weights (log w = -beta E -
-- log q) with z against SW in combined (bootstrap and MC) standard errors;
-- NESS of the likelihood and bias weights; P(m > 0) of the unweighted
-- samples (0 or 1: one sign only); the RMSE in k_B T of F(m) against the
-- reference (minima aligned, on the grid points finite in both), per grid
-- point and in bins of pmf_bin points, from the sampler's bias
-- (F = -gamma/(gamma-1) V) and from its likelihood-reweighted samples;
-- log Z-hat; wall minutes.  The targets it checks follow the table.
-- Final samples (config, energy, cv, logq, logw_lik, logw_bias) go to
-- ising16_<method>.tpd, the per-step log to ising16_<method>.log, the
-- biases to ising16_<method>.bias and ising16_reference.bias, in the
-- output directory.
--
-- Settings: the CPU preset (default) is embed 32, depth 1, heads 4, B 64,
-- R 4, resample every 10, lr 1e-3, 3000 steps per method, 150000 final
-- samples (a one-block network draws from its sampling table, about 580
-- samples/s here: 4.3 minutes a method); the warm start is 3000 cycles of
-- 128 walkers (pace 64 sweeps), configurations kept every 10 cycles from
-- cycle 1000 (25728), 600 pretraining steps.  The papers' settings (embed
-- 64, depth 4, heads 4, B 128, R 16, lr 1e-4, 20000 steps) are --set
-- preset=paper: a GPU job (on 2 CPU cores about 4.5 s per step and 39 s
-- per draw of 128).  Every setting is a --set away (e.g. --set steps=6000,
-- --set methods=warm).
-- Bias: 257 points on [-1, 1], sigma 0.05, bias factor 10, W 0.1667 per
-- cycle at beta 0.6 (1.1345 at 0.4407, 1.7855 at 0.28); replay 1024
-- entries, 8 bins, half the batch.
--
-- Measured (defaults, seed 1, 2 threads on the 2 otherwise idle cores of a
-- Xeon with AVX-512; 47.2 minutes wall in all):
--   method        Mag.    z     Corr.   z     NESS  NESS_V P(m>0) F bias      F samples   min
--   MDNS          0.9767  5.0   0.9576  3.4   0.032   -    1.000      -       (one mode)   9.9
--   MetaDNS       0.9675 -1.7   0.9471 -1.6   0.000 0.533  1.000 11.35/10.99 (one mode)   9.8
--   MetaDNS+warm  0.9735 -0.4   0.9543 -0.4   0.007 0.038  0.475  0.39/0.46   0.84/0.41  11.5
--   Swendsen-Wang 0.9737(1)     0.9547(1)                  0.502
-- (F: RMSE in k_B T per grid point, Delta m = 1/128 / in bins of 8 points.)
-- The reference: F(0) - F(min) = 20.1 k_B T; its own bias PMF is 0.34
-- k_B T from its frozen-bias reweighting.  MDNS and the papers' MetaDNS
-- stay on one sign of m at this budget (the papers' MetaDNS reaches 35 of
-- the 257 grid points, with NESS 0.000: its Mag. and Corr. are within 2
-- SE only because its SEs are wide).  Warm-started, the network holds
-- both signs and every target is met: Mag. and Corr. within 0.4 SE of SW,
-- F(m) within 0.39 k_B T from the bias and 0.84 k_B T per grid point from
-- the reweighted samples.  The samples' F needs the sample count: on this
-- network it was 1.81 k_B T from 20000 samples, 1.02 from 80000 and 0.76
-- from 200000 (against the reference's bias PMF), the likelihood weights
-- leaving a few effective samples per grid point where configurations
-- carry two domain walls (NESS_V 0.038 whatever the sample count, and
-- unchanged by 600 more steps at lr 1e-4).
--
-- Long runs in pieces: --set checkpoint_every=500 --set resume=true, then
-- the same command again with the same --out; each method continues from
-- its checkpoint bit for bit (CPU) and is evaluated once it reaches
-- 'steps'.  The golden test runs this recipe on 4x4 with a tiny network.
local tp = require "tempera"

local P = tp.params({ L = 16, beta = 0.6, preset = "cpu", embed = 32, depth = 1, heads = 4, batch = 64,
  replicates = 4, resample_every = 10, steps = 3000, lr = 1e-3, points = 257, sigma = 0.05, bias_factor = 10,
  height = 0, replay = true, samples = 150000, chains = 128, burn_in = 1024, sw_samples = 1000,
  methods = "mdns,metadns,warm", warm_cycles = 3000, warm_from = 1000, warm_every = 10, pretrain = 600,
  ref_cycles = 3000, ref_frozen = 200, pmf_bin = 8, seed = 1, checkpoint_every = 0, resume = false },
  { cpu = {}, paper = { embed = 64, depth = 4, heads = 4, batch = 128, replicates = 16, steps = 20000, lr = 1e-4 } })

local W_paper = { [0.6] = 0.1667, [0.4407] = 1.1345, [0.28] = 1.7855 }
local W = P.height > 0 and P.height or W_paper[P.beta] or 0.5 / P.beta
local A = tp.analysis
local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0 }
local m = tp.cv.magnetization(lat)
local name = "ising" .. P.L
local t_start = tp.clock()

local function new_bias()
  return tp.bias.grid{ cv = m, range = { -1, 1 }, points = P.points, sigma = P.sigma, height = W,
    bias_factor = P.bias_factor, beta = P.beta }
end

print(string.format("# Ising %dx%d, J = 1, beta %g: MDNS and MetaDNS against Swendsen-Wang and WT-MetaD MC",
  P.L, P.L, P.beta))
print(string.format("# preset %s: transformer embed %d, depth %d, heads %d; B %d, R %d, resample every %d, %d steps, lr %g",
  P.preset, P.embed, P.depth, P.heads, P.batch, P.replicates, P.resample_every, P.steps, P.lr))
print(string.format("# bias: %d points on [-1, 1], sigma %g, bias factor %g, W %g per cycle; replay %s", P.points,
  P.sigma, P.bias_factor, W, tostring(P.replay)))

-- ground truth: Swendsen-Wang for the physical observables ...
local ref = tp.evaluate.mc_reference{ model = model, beta = P.beta, cv = m, points = P.points, range = { -1, 1 },
  method = "swendsen_wang", chains = P.chains, burn_in = P.burn_in, samples = P.sw_samples, seed = P.seed + 100 }
print(string.format("# SW reference: %d chains, burn-in %d, %d samples each: Mag. %.4f(%.4f), Corr. %.4f(%.4f)",
  P.chains, P.burn_in, P.sw_samples, ref.mag, ref.mag_se, ref.corr1, ref.corr1_se))
-- ... and a long classical WT-MetaD run for F(m) over the whole range: its
-- bias, then sampling under the frozen bias reweighted by exp(beta V) (exact
-- for any bias that lets the walkers visit every m, and free of the +2 k_B T
-- that Gaussian hills leave at the walls m = +-1)
local t0 = tp.clock()
local ref_bias = new_bias()
local ref_md = tp.mc.metad{ model = model, cv = m, bias = ref_bias, beta = P.beta, chains = P.chains,
  cycles = P.ref_cycles, seed = P.seed + 300, label = "reference WT-MetaD" }
ref_bias:save(tp.out(name .. "_reference.bias"))
local function grid_pmf(b)   -- F(m) of a bias in k_B T, a Lua list on the grid
  local F, t = b:pmf(), {}
  for i = 1, b.size do t[i] = F[i - 1] * P.beta end
  return t
end
local fr = ref_md:frozen{ samples = P.ref_frozen }
local hf = A.hist{ range = { -1, 1 }, step = 2 / (P.points - 1) }
hf:add(fr.s, fr.logw, fr.n)
local Fref = hf:pmf(1)
local ref_self = A.pmf_rmse(grid_pmf(ref_bias), Fref)
print(string.format("# WT-MetaD reference: %d walkers, %d cycles of 64 sweeps, then %d frozen-bias sweeps (%.0f s):",
  P.chains, P.ref_cycles, P.ref_frozen, tp.clock() - t0))
print(string.format("#   F(0) - F(min) = %.2f k_B T; its own bias PMF is %.2f k_B T RMSE from it", Fref[(P.points + 1) / 2]
  - math.min(Fref[1], Fref[P.points]), ref_self))

-- RMSE (k_B T) of a PMF on the grid against Fref, per grid point and in
-- bins of pmf_bin points (F of a bin = -log of its summed exp(-F))
local function binned(F, k)
  local out = {}
  for s0 = 1, #F, k do
    local z = 0
    for i = s0, math.min(#F, s0 + k - 1) do if F[i] < math.huge then z = z + math.exp(-F[i]) end end
    out[#out + 1] = z > 0 and -math.log(z) or math.huge
  end
  return out
end
local function rmse(F)
  local ok, v, used = pcall(A.pmf_rmse, F, Fref)
  if not ok then return nil end
  local vb, ub = A.pmf_rmse(binned(F, P.pmf_bin), binned(Fref, P.pmf_bin))
  return v, used, vb, ub
end

local LABEL = { mdns = "MDNS", metadns = "MetaDNS", warm = "MetaDNS+warm" }
local rows, results = {}, {}
for method in P.methods:gmatch("[%a_]+") do
  if not LABEL[method] then error("methods: mdns, metadns and/or warm, got " .. method) end
  local tm = tp.clock()
  local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = P.heads,
    seed = P.seed }
  local opts = { net = net, model = model, beta = P.beta, batch = P.batch, replicates = P.replicates,
    resample_every = P.resample_every, steps = P.steps, lr = P.lr, seed = P.seed,
    log = tp.out(name .. "_" .. method .. ".log") }
  if P.checkpoint_every > 0 or P.resume then
    opts.checkpoint, opts.checkpoint_every = tp.out(name .. "_" .. method .. ".ckpt"), P.checkpoint_every
    opts.resume = P.resume and "auto"
  end
  if method == "mdns" then
    opts.cv = m
  else
    opts.bias = new_bias()
    opts.replay = P.replay
  end
  if method == "warm" then
    -- the warm start: a classical WT-MetaD run builds the bias the network's
    -- (weighted) hills go on building; its walkers are the pretraining data
    -- (rebuilt identically on resume, then overwritten by the checkpoint)
    local w = tp.train.warm_start{ model = model, cv = m, bias = opts.bias, beta = P.beta, chains = P.chains,
      cycles = P.warm_cycles, from = P.warm_from, every = P.warm_every, steps = P.pretrain, seed = P.seed + 200 }
    opts.pretrain, opts.deposit = w.pretrain, w.deposit
    print(string.format("# warm start: %d walkers, %d cycles (%.0f s), %d configurations, %d pretraining steps;",
      P.chains, P.warm_cycles, w.seconds, w.n, P.pretrain))
    print(string.format("#   its bias alone: F(m) %.2f k_B T RMSE from the reference", (rmse(grid_pmf(opts.bias)))))
  end
  local tr = tp.train[method == "mdns" and "mdns" or "metadns"](opts)
  tr:close()
  if tr.resumed_step then print(string.format("# %s resumed at step %d", LABEL[method], tr.resumed_step)) end
  local wall = (tp.clock() - tm) / 60
  print(LABEL[method] .. " " .. tr:status())
  local r = tr:evaluate{ n = P.samples, reference = ref, L = P.L, dump = tp.out(name .. "_" .. method .. ".tpd") }
  local row = { name = LABEL[method], mag = r.mag, corr1 = r.corr1, ness_lik = r.ness_lik, ness_bias = r.ness_bias,
    p_plus = r.p_plus, log_z = r.log_z, wall = wall }
  row.z_mag = (r.mag - ref.mag) / math.sqrt(r.mag_se ^ 2 + ref.mag_se ^ 2)
  row.z_corr = (r.corr1 - ref.corr1) / math.sqrt(r.corr1_se ^ 2 + ref.corr1_se ^ 2)
  local Fs = {}
  for i = 1, #r.pmf_samples do Fs[i] = r.pmf_samples[i] * P.beta end
  row.rmse_samples, row.used, row.rmse_samples_bin, row.used_bin = rmse(Fs)
  if opts.bias then
    -- the papers' cheap CV reweighting, log w = beta V: right only for
    -- samples that follow the biased target's CV marginal
    local hv = A.hist{ range = { -1, 1 }, step = 2 / (P.points - 1) }
    hv:add(r.samples.cv, r.samples.logw_bias, r.n)
    row.rmse_vw, row.used_vw, row.rmse_vw_bin = rmse(hv:pmf(1))
    row.rmse_bias, row.used_bias, row.rmse_bias_bin = rmse(grid_pmf(opts.bias))
    opts.bias:save(tp.out(name .. "_" .. method .. ".bias"))
  end
  rows[#rows + 1] = row
  results[method] = row
end

print(string.format("\n%-13s %8s %5s %8s %5s %6s %6s %6s %11s %11s %9s %5s", "method", "Mag.", "z", "Corr.", "z",
  "NESS", "NESS_V", "P(m>0)", "F bias", "F samples", "log Z", "min"))
local function f(v, fmt) return v and string.format(fmt, v) or "-" end
for _, r in ipairs(rows) do
  print(string.format("%-13s %8.4f %5.1f %8.4f %5.1f %6.3f %6s %6.3f %11s %11s %9.3f %5.1f", r.name, r.mag, r.z_mag,
    r.corr1, r.z_corr, r.ness_lik, f(r.ness_bias, "%.3f"), r.p_plus,
    r.rmse_bias and string.format("%.2f/%.2f", r.rmse_bias, r.rmse_bias_bin) or "-",
    r.rmse_samples and string.format("%.2f/%.2f", r.rmse_samples, r.rmse_samples_bin) or "-", r.log_z, r.wall))
end
print(string.format("%-13s %8.4f %5s %8.4f %5s %6s %6s %6.3f", "Swendsen-Wang", ref.mag, "", ref.corr1, "", "", "",
  ref.p_plus))
print(string.format("(SW standard errors: Mag. %.4f, Corr. %.4f.  Mag. = E|m|, Corr. = <s_i s_i+1>, likelihood-reweighted;",
  ref.mag_se, ref.corr1_se))
print(" z against SW in combined standard errors; NESS/NESS_V of likelihood/bias weights; P(m>0) unweighted;")
print(string.format(" F bias / F samples: RMSE in k_B T of F(m) against the WT-MetaD reference, per grid point / in bins of %d",
  P.pmf_bin))
print(" grid points, from the bias and from the likelihood-reweighted samples; min = wall minutes, warm start included)")
for _, r in ipairs(rows) do
  if r.rmse_samples then
    print(string.format("%s: F samples compared on %d of %d grid points (%d of %d bins)%s", r.name, r.used, P.points,
      r.used_bin, #binned(Fref, P.pmf_bin), r.rmse_vw and string.format("; from bias-weighted samples %.2f/%.2f",
      r.rmse_vw, r.rmse_vw_bin) or ""))
  end
end

-- the targets, checked for the best configuration
local best = results.warm or results.metadns
if best then
  local function check(what, okv) print(string.format("target %-58s %s", what, okv and "met" or "MISSED")) end
  print(string.format("\ntargets for %s:", best.name))
  check(string.format("P(m>0) in [0.3, 0.7]: %.3f", best.p_plus), best.p_plus >= 0.3 and best.p_plus <= 0.7)
  check(string.format("|z| of Mag. <= 3: %.1f", best.z_mag), math.abs(best.z_mag) <= 3)
  check(string.format("|z| of Corr. <= 3: %.1f", best.z_corr), math.abs(best.z_corr) <= 3)
  check(string.format("F(m) from the bias within 1 k_B T RMSE: %s", f(best.rmse_bias, "%.2f")),
    best.rmse_bias and best.rmse_bias <= 1)
  check(string.format("F(m) from the samples within 1 k_B T RMSE: %s", f(best.rmse_samples, "%.2f")),
    best.rmse_samples and best.rmse_samples <= 1)
  check(string.format("  the same in bins of %d grid points: %s", P.pmf_bin, f(best.rmse_samples_bin, "%.2f")),
    best.rmse_samples_bin and best.rmse_samples_bin <= 1)
end
if results.mdns then
  print(string.format("MDNS on one sign (P(m>0) 0 or 1): %.3f", results.mdns.p_plus))
end
print(string.format("total wall time %.1f min", (tp.clock() - t_start) / 60))
