-- recipes/ising16_metadns.lua -- the papers' Ising experiment: MDNS vs
-- MetaDNS vs Swendsen-Wang ground truth on the 16x16 periodic Ising model
-- at beta 0.6 (science.md 3-5, 9); --set L=8 runs the 8x8 version.
--
-- What it shows: two masked-diffusion samplers trained with the same
-- network and budget, once plainly (MDNS, tp.train.mdns) and once against
-- a well-tempered bias along the magnetisation (MetaDNS, tp.train.metadns
-- with the CV-stratified replay buffer), each then sampled and reweighted
-- to the physical ensemble (likelihood weights log w = -beta E - log p;
-- bias weights log w = beta V), against 128 Swendsen-Wang chains
-- (tp.train.mc_reference).  The table gives Mag. = E|m|,
-- Corr. = <s_i s_i+1>, NESS of the likelihood and bias weights, the JS
-- divergence of P(m) (equivalently of x_up = (1 + m)/2) against the SW
-- histogram on the bias grid, the PMF RMSE in k_B T against the SW PMF on
-- the same grid (the bias PMF for MetaDNS, the reweighted samples' for
-- MDNS; only grid points SW visits count), P(m > 0) of the unweighted
-- samples (the papers' finding: MDNS collapses onto one sign, 0 or 1;
-- MetaDNS keeps both), log Z-hat and the wall seconds per training step.
-- Final samples go to ising16_mdns.tpd / ising16_metadns.tpd, per-step
-- logs to ising16_mdns.log / ising16_metadns.log in the output directory.
--
-- Defaults are the paper settings: embed 64, depth 4, heads 4, B 128,
-- R 16, resample every 10, lr 1e-4, 20000 steps; bias grid 257 points on
-- [-1, 1], sigma 0.05, bias factor 10, W 0.1667 per cycle at beta 0.6
-- (1.1345 at 0.4407, 1.7855 at 0.28); replay 1024 entries, 8 bins, half
-- the batch; SW 128 chains, burn-in 1024, 1000 samples.
-- Expected time: the paper settings are a GPU job.  On 2 CPU cores one
-- training step of the paper network at 16x16 costs an estimated 2
-- minutes (scaled from the measured cost of the small networks below; a
-- draw of B samples is 256 passes of the network, a WDCE step B*R rows),
-- so 2 x 20000 steps would take weeks; at 8x8 (about 2-3 s per step) about
-- 30 hours (these two estimates predate the sampling fast path of
-- tempera-nn(5), which makes drawing about 1.3x faster at depth 4).  Do
-- not run the defaults on a CPU.  CPU-sized runs on 2 cores:
--   16x16, 23 minutes wall with --threads 2 (0.14 s per MDNS step, 0.31
--   per MetaDNS step, which also scores replayed samples):
--     tempera run recipes/ising16_metadns.lua --threads 2 --set embed=16 \
--       --set depth=1 --set heads=2 --set batch=64 --set replicates=4 \
--       --set steps=3000 --set lr=1e-3 --set samples=1024
--   8x8: the same with --set L=8 (not timed; drawing costs a quarter).
-- Result of that 16x16 run (seed 1): MDNS collapses onto one sign
-- (P(m > 0) = 1.000, Mag. 0.978 and Corr. 0.959 against SW 0.974 and
-- 0.955, NESS 0.26, JS of P(m) 0.23), and MetaDNS, after 300 cycles and
-- 9632 hills, has not crossed to the other sign either (P(m > 0) = 0,
-- its samples in 1 of 8 CV bins, NESS 0.27, bias NESS 0.82, JS 0.23):
-- with a network this small and this budget tempera does not reproduce
-- the papers' MetaDNS result at 16x16.  Earlier, with the full forward
-- pass, 8x8 with 6000 steps and a batch of 32 showed MetaDNS starting to
-- cross (P(m > 0) = 0.048 unweighted, samples in 4 of 8 CV bins) while MDNS
-- stayed on one sign; the papers' network and budget (a GPU job) are
-- needed for the full result.  recipes/quickstart.lua shows it at 4x4.
-- Later runs of the same small network:
--   8x8, 6000 steps, B 64, R 4 (3 min): MDNS P(m > 0) = 0.000; MetaDNS
--   crossed, P(m > 0) = 0.889 unweighted, samples in 5 of 8 CV bins, JS
--   of P(m) 0.115 against MDNS's 0.229.
--   16x16 MetaDNS alone, the paper's 20000 steps (2000 cycles, 64032
--   hills; --set methods=metadns --set steps=20000, 54 min wall, 0.163 s
--   per step): its batches stayed in the m ~ +0.97 bin for 12000 steps,
--   then spread down towards m = 0 (2, 3 and 4 of 8 CV bins at steps
--   14000, 18000 and 20000) without crossing: P(m > 0) = 0.000, NESS
--   0.008, bias NESS 0.04, JS 0.33; Mag. 0.974 and Corr. 0.957 against SW
--   0.974 and 0.955.  So at 16x16 the bias does move this network
--   towards the other mode, but 2000 cycles are not enough for it.
-- A long run in pieces (a GPU lent for 10-minute calls, say): add
-- --set checkpoint_every=500 --set resume=true and run the same command
-- again with the same output directory; each method continues from its
-- checkpoint bit for bit (CPU) and is evaluated once it reaches 'steps'.
-- The SW reference alone takes about 10 s.  The golden test runs a 4x4
-- lattice with a tiny network for 10 steps per method in under a second.
local tp = require "tempera"

local P = tp.params{ L = 16, beta = 0.6, embed = 64, depth = 4, heads = 4, batch = 128, replicates = 16,
  resample_every = 10, steps = 20000, lr = 1e-4, points = 257, sigma = 0.05, bias_factor = 10, height = 0,
  replay = true, samples = 10000, chains = 128, burn_in = 1024, sw_samples = 1000, methods = "mdns,metadns",
  seed = 1, checkpoint_every = 0, resume = false }

local W_paper = { [0.6] = 0.1667, [0.4407] = 1.1345, [0.28] = 1.7855 }
local W = P.height > 0 and P.height or W_paper[P.beta] or 0.5 / P.beta
local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0 }
local m = tp.cv.magnetization(lat)
local name = "ising" .. P.L

print(string.format("# Ising %dx%d, J = 1, beta %g: MDNS and MetaDNS against Swendsen-Wang", P.L, P.L, P.beta))
local ref = tp.train.mc_reference{ model = model, beta = P.beta, cv = m, points = P.points, range = { -1, 1 },
  method = "swendsen_wang", chains = P.chains, burn_in = P.burn_in, samples = P.sw_samples, seed = P.seed + 100 }
print(string.format("# SW reference: %d chains, burn-in %d, %d samples each", P.chains, P.burn_in, P.sw_samples))
print(string.format("# transformer embed %d, depth %d, heads %d; B %d, R %d, resample every %d, %d steps, lr %g",
  P.embed, P.depth, P.heads, P.batch, P.replicates, P.resample_every, P.steps, P.lr))
print(string.format("# bias: %d points on [-1, 1], sigma %g, bias factor %g, W %g per cycle; replay %s", P.points,
  P.sigma, P.bias_factor, W, tostring(P.replay)))

local rows = {}
for method in P.methods:gmatch("[%a_]+") do
  if method ~= "mdns" and method ~= "metadns" then error("methods: mdns and/or metadns, got " .. method) end
  local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = P.heads,
    seed = P.seed }
  local opts = { net = net, model = model, beta = P.beta, batch = P.batch, replicates = P.replicates,
    resample_every = P.resample_every, steps = P.steps, lr = P.lr, seed = P.seed,
    log = tp.out(name .. "_" .. method .. ".log") }
  if P.checkpoint_every > 0 or P.resume then
    -- a long run in pieces: checkpoints every checkpoint_every steps, and
    -- resume = true continues from the method's checkpoint when there is one
    opts.checkpoint = tp.out(name .. "_" .. method .. ".ckpt")
    opts.checkpoint_every = P.checkpoint_every
    local f = P.resume and io.open(opts.checkpoint, "rb")
    if f then f:close(); opts.resume = true end
  end
  if method == "metadns" then
    opts.bias = tp.bias.grid{ cv = m, range = { -1, 1 }, points = P.points, sigma = P.sigma, height = W,
      bias_factor = P.bias_factor, beta = P.beta }
    opts.replay = P.replay
  else
    opts.cv = m
  end
  local tr = tp.train[method](opts)
  tr:close()
  print((method == "mdns" and "MDNS " or "MetaDNS ") .. tr:status())
  local r = tr:evaluate{ n = P.samples, reference = ref, L = P.L, dump = tp.out(name .. "_" .. method .. ".tpd") }
  local rmse = r.pmf_rmse_bias or r.pmf_rmse_samples
  rows[#rows + 1] = { name = method == "mdns" and "MDNS" or "MetaDNS", mag = r.mag, corr1 = r.corr1,
    ness_lik = r.ness_lik, ness_bias = r.ness_bias, js = r.js, pmf_rmse_bias = rmse and rmse * P.beta,
    p_plus = r.p_plus, log_z = r.log_z, s_step = r.s_step }
  if r.pmf_rmse_bias then
    print(string.format("MetaDNS PMF RMSE from likelihood-reweighted samples: %s k_B T",
      r.pmf_rmse_samples and string.format("%.3f", r.pmf_rmse_samples * P.beta) or "- (no grid point in common)"))
  end
end
rows[#rows + 1] = { name = "Swendsen-Wang", mag = ref.mag, corr1 = ref.corr1, p_plus = ref.p_plus }
print(tp.train.summary_table(rows))
print("(Mag. = E|m|, Corr. = <s_i s_i+1>, NESS/NESS_V of likelihood/bias weights, JS of P(m) i.e. of x_up vs SW,")
print(" PMF RMSE in k_B T vs the SW PMF (MetaDNS: its bias; MDNS: reweighted samples), P(m>0) unweighted,")
print(" s/step = wall seconds per training step)")
