-- recipes/cuau444_metadns.lua -- MDNS and MetaDNS on the Cu-Au cluster
-- expansion in the papers' 4x4x4 FCC cell (64 sites, science.md 1.3, 3-5),
-- against a WT-MetaD Monte Carlo reference.
--
-- What it shows: the neural samplers on an alloy too large to enumerate
-- (2^64 states).  The reference is well-tempered metadynamics MCMC along
-- x_Au (tp.mc.metad: 128 semi-grand-canonical Metropolis chains at h = 0 on
-- E + V, a hill cycle every 64 sweeps, the same bias settings), then
-- sampling with that bias frozen and reweighting (log w = beta V): P(x_Au)
-- and the PMF on the 65-point grid, <E>/N and <x_Au>.  MDNS and MetaDNS
-- (the papers' settings where they apply: 65 grid points on [0, 1],
-- sigma 0.05, bias factor 10, W = 0.5 k_B T per cycle, i.e. 0.02154 /
-- 0.0293 / 0.0517 eV at 500 / 680 / 1200 K; embed 64, depth 4, B 128,
-- R 16, resample every 10, lr 1e-4, replay) train the same network for the
-- same number of steps, are sampled and reweighted to the physical
-- ensemble (log w = -beta E - log p), and the table gives NESS of the
-- likelihood and bias weights, the JS divergence of P(x_Au) against the
-- reference, the PMF RMSE in k_B T against the reference PMF (MetaDNS: its
-- bias; MDNS: its reweighted samples), log Z-hat, the wall seconds per
-- training step, <E>/N in meV/atom and <x_Au> (Mag. and Corr. are Ising
-- metrics: "-").  Final samples go to cuau444_mdns.tpd /
-- cuau444_metadns.tpd, per-step logs to cuau444_*.log.
-- Expected time: the paper network (5000 steps per method) costs about
-- 2.5-3 s per step on 2 CPU cores (64 sites, R 16), i.e. 7-8 hours for
-- both methods: a GPU job.  A CPU-sized run, measured at 9.5 minutes wall
-- on 2 cores shared with other jobs (reference 2 minutes, 0.3 s per step):
--   tempera run recipes/cuau444_metadns.lua --threads 1 --set embed=32 \
--     --set depth=2 --set batch=64 --set replicates=4 --set steps=600 \
--     --set lr=1e-3 --set samples=2048
-- At that budget neither sampler has learned the ordering yet: <E>/N
-- -0.8 (MDNS) and -0.2 (MetaDNS) meV/atom against -23.5 from the
-- reference, NESS 0.004-0.005, JS of P(x_Au) 0.10 / 0.09; the reference
-- itself gives <x_Au> 0.464 with frozen-bias NESS 0.35.  The golden test
-- runs tiny settings in about 3 seconds.
local tp = require "tempera"

local P = tp.params{ T = 680, embed = 64, depth = 4, heads = 4, batch = 128, replicates = 16, resample_every = 10,
  steps = 5000, lr = 1e-4, points = 65, sigma = 0.05, bias_factor = 10, height = 0, replay = true, samples = 4096,
  ref_chains = 128, ref_pace = 64, ref_cycles = 300, ref_samples = 200, methods = "mdns,metadns", seed = 11 }

local lat = tp.lattice.fcc{ n = { 4, 4, 4 } }
local model = tp.model.cluster_expansion{ lattice = lat, ce = "cuau" }
local cv = tp.cv.x_au(lat)
local N = lat.n
local kT = tp.model.kB * P.T
local beta = 1 / kT
local W = P.height > 0 and P.height or 0.5 * kT
local function new_bias()
  return tp.bias.grid{ cv = cv, points = P.points, range = { 0, 1 }, sigma = P.sigma, height = W,
    bias_factor = P.bias_factor, beta = beta }
end

-- reference: WT-MetaD MCMC, then the frozen bias, reweighted to h = 0
print(string.format("# Cu-Au cluster expansion, fcc 4x4x4 (%d sites) at %g K, h = 0; x_Au grid %d on [0, 1], W %.5f eV",
  N, P.T, P.points, W))
local run = tp.mc.metad{ model = model, cv = cv, bias = new_bias(), beta = beta, chains = P.ref_chains,
  pace = P.ref_pace, cycles = P.ref_cycles, seed = P.seed + 100, label = "reference WT-MetaD" }
local fr = run:frozen{ samples = P.ref_samples }
local mg = run:marginal(fr)
local g = {}
for i = 1, P.points do g[i] = (i - 1) / (P.points - 1) end
local ref = { grid = { g }, marginal = mg.p, pmf = mg.pmf }
local w = tp.analysis.normalize(fr.logw, fr.n)
local ref_e, ref_x = 0, 0
for i = 0, fr.n - 1 do ref_e = ref_e + w[i] * fr.energy[i]; ref_x = ref_x + w[i] * fr.s[i] end
print(string.format("# reference: WT-MetaD MCMC %d chains x %d cycles (pace %d sweeps), frozen %d samples per chain, NESS %.3f",
  P.ref_chains, P.ref_cycles, P.ref_pace, P.ref_samples, mg.ness))
print(string.format("# transformer embed %d, depth %d, heads %d; B %d, R %d, resample every %d, %d steps, lr %g",
  P.embed, P.depth, P.heads, P.batch, P.replicates, P.resample_every, P.steps, P.lr))

local rows = {}
for method in P.methods:gmatch("[%a_]+") do
  if method ~= "mdns" and method ~= "metadns" then error("methods: mdns and/or metadns, got " .. method) end
  local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = P.heads,
    seed = P.seed }
  local opts = { net = net, model = model, beta = beta, batch = P.batch, replicates = P.replicates,
    resample_every = P.resample_every, steps = P.steps, lr = P.lr, seed = P.seed,
    log = tp.out("cuau444_" .. method .. ".log") }
  if method == "metadns" then
    opts.bias, opts.replay = new_bias(), P.replay
  else
    opts.cv = cv
  end
  local tr = tp.train[method](opts)
  tr:close()
  print((method == "mdns" and "MDNS " or "MetaDNS ") .. tr:status())
  local r = tr:evaluate{ n = P.samples, reference = ref, dump = tp.out("cuau444_" .. method .. ".tpd") }
  local s = r.samples
  local wl = tp.analysis.normalize(s.log_rw, r.n)
  local e, x = 0, 0
  for i = 0, r.n - 1 do e = e + wl[i] * s.energy[i]; x = x + wl[i] * s.cv[i] end
  local rmse = r.pmf_rmse_bias or r.pmf_rmse_samples
  rows[#rows + 1] = { name = method == "mdns" and "MDNS" or "MetaDNS", ness_lik = r.ness_lik,
    ness_bias = r.ness_bias, js = r.js, pmf_rmse_bias = rmse and rmse * beta, log_z = r.log_z, s_step = r.s_step,
    e = 1000 * e / N, x = x }
end
rows[#rows + 1] = { name = "WT-MetaD MCMC", ness_bias = mg.ness, e = 1000 * ref_e / N, x = ref_x }
print(tp.train.summary_table(rows, { extra = { { key = "e", head = "E/N meV", fmt = "%.3f" },
  { key = "x", head = "<x_Au>", fmt = "%.4f" } } }))
print("(NESS/NESS_V of likelihood/bias weights, JS of P(x_Au) vs the reference, PMF RMSE in k_B T vs the")
print(" reference PMF (MetaDNS: its bias; MDNS: reweighted samples), s/step = wall seconds per training step)")
