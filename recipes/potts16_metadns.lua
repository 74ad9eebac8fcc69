-- recipes/potts16_metadns.lua -- the papers' Potts experiment at full size:
-- MDNS vs MetaDNS on the q = 3 Potts model, 16x16 periodic, at the low
-- temperature beta = 1.2 (three ordered phases, one per colour), sized
-- for 2 CPU cores.
--
-- The CV is the papers' 2-D simplex coordinate (x, y) = (c0 - (c1 + c2)/2,
-- sqrt(3)/2 (c1 - c2)) of the colour fractions c_k: the three ordered
-- phases sit at the corners of a triangle.  Three samplers with the same
-- network and number of optimiser steps:
--   MDNS          tp.train.mdns, no bias;
--   MetaDNS       tp.train.metadns as in the papers (uniform hills,
--                 replay), no warm start;
--   MetaDNS+warm  warm-started from a short classical WT-MetaD run along
--                 (x, y) (its bias, its walkers' configurations as
--                 pretraining data and replay seed) with importance-
--                 weighted hills (see recipes/ising16_metadns.lua and
--                 tempera-train(5), tempera-methods(7)), and a finish stage: once the network
--                 visits every phase, its last 'finish' steps train on the
--                 unbiased target (tp.train.metadns{ finish = }, bias kept,
--                 no hills).
-- Each is sampled and reweighted to the physical ensemble (likelihood
-- weights log w = -beta E - log q).  The table gives the weight of each
-- ordered phase (samples classified by their majority colour; the exact
-- answer is 1/3 each by symmetry) with bootstrap standard errors, the
-- energy per site against Swendsen-Wang (128 chains) with z in combined
-- standard errors, NESS of the likelihood and bias weights, the unweighted
-- fraction of samples in each phase, log Z-hat and the wall minutes.
-- Final samples (config, energy, cv, logq, logw_lik, logw_bias) go to
-- potts16_<method>.tpd, per-step logs to potts16_<method>.log.
--
-- Settings: the CPU preset (default) is embed 32, depth 1, heads 4, B 64,
-- R 4, resample every 10, lr 1e-3, 4200 steps per method (MetaDNS+warm:
-- 2400 biased, then 1800 finish steps at lr 1e-3), 60000 final samples;
-- bias grid 65 x 65 on [-0.6, 1.1] x [-1, 1], sigma 0.05, bias factor 10,
-- W 0.0833 per cycle (the papers' low-temperature height); warm start 2000
-- cycles of 128 walkers, configurations every 10 cycles from cycle 500,
-- 600 pretraining steps.  --set preset=paper gives the papers' network and
-- loop (embed 128, depth 4, heads 4, B 128, R 16, lr 1e-4, 20000 steps, no
-- finish stage): a GPU job.  Long runs in pieces: --set
-- checkpoint_every=500 --set resume=true.
--
-- Measured (defaults, seed 1, 2 threads on the 2 otherwise idle cores of a
-- Xeon with AVX-512; 53.7 minutes wall in all):
--   method        phase weights (SE)                    E/N (SE)           z    NESS  NESS_V unweighted     min
--   MDNS          1.000(0.000) 0.000(0.000) 0.000(0.000) -1.89911(0.00962) -0.2  0.001   -    1.00 0.00 0.00 15.3
--   MetaDNS       1.000(0.000) 0.000(0.000) 0.000(0.000) -0.91318(0.01082) 90.9  0.000 0.363  1.00 0.00 0.00 15.2
--   MetaDNS+warm  0.334(0.010) 0.313(0.010) 0.354(0.011) -1.89968(0.00106) -2.1  0.032   -    0.38 0.35 0.27 17.4
--   Swendsen-Wang                                        -1.89735(0.00034)
-- Every target is met by MetaDNS+warm: each phase weight within 2.1 SE of
-- 1/3 (z 0.0, -2.1, +1.8) and E/N within 2.1 SE of Swendsen-Wang.  MDNS and
-- the papers' MetaDNS stay in one ordered phase (the papers' MetaDNS with
-- its energy far off: its bias pushed the network into disorder it cannot
-- represent, NESS < 0.001).  What the finish stage bought: the same warm
-- start without it (3000 biased steps, 40000 final samples, 34.9 minutes
-- for the three methods) sampled all three phases too (unweighted 0.38 /
-- 0.26 / 0.36) but its likelihood weights were so uneven (NESS 0.002) that
-- the reweighted phase weights missed (0.176(31), 0.261(61), 0.562(61));
-- the bias grid had cost the network the capacity to fit the ordered
-- phases closely.  Continued from that run's network, 1800 finish steps
-- at lr 1e-3 raised NESS to 0.015 (at lr 2e-4 it stayed at 0.001-0.002).
local tp = require "tempera"
local ffi = require "ffi"

local P = tp.params({ L = 16, beta = 1.2, preset = "cpu", embed = 32, depth = 1, heads = 4, batch = 64,
  replicates = 4, resample_every = 10, steps = 2400, lr = 1e-3, points = 65, sigma = 0.05, bias_factor = 10,
  height = 0.0833, replay = true, finish = 1800, finish_lr = 1e-3, samples = 60000, chains = 128, burn_in = 1024, sw_samples = 1000,
  methods = "mdns,metadns,warm", warm_cycles = 2000, warm_from = 500, warm_every = 10, pretrain = 600, seed = 1,
  checkpoint_every = 0, resume = false },
  { cpu = {}, paper = { embed = 128, depth = 4, heads = 4, batch = 128, replicates = 16, steps = 20000, lr = 1e-4, finish = 0 } })

local A = tp.analysis
local lat = tp.lattice.square(P.L)
local model = tp.model.potts{ lattice = lat, q = 3 }
local cv = tp.cv.simplex(lat)
local N = lat.n
local range = { { -0.6, 1.1 }, { -1.0, 1.0 } }
local name = "potts" .. P.L
local t_start = tp.clock()
local function new_bias()
  return tp.bias.grid{ cv = cv, range = range, points = P.points, sigma = P.sigma, height = P.height,
    bias_factor = P.bias_factor, beta = P.beta }
end

print(string.format("# Potts q = 3, %dx%d, J = 1, beta %g: MDNS and MetaDNS against Swendsen-Wang", P.L, P.L, P.beta))
print(string.format("# preset %s: transformer embed %d, depth %d, heads %d; B %d, R %d, resample every %d, %d steps, lr %g",
  P.preset, P.embed, P.depth, P.heads, P.batch, P.replicates, P.resample_every, P.steps + P.finish, P.lr))
print(string.format("# MetaDNS+warm: the last %d of them on the unbiased target (finish, lr %g)", P.finish, P.finish_lr))
print(string.format("# bias: %d x %d points on [-0.6, 1.1] x [-1, 1], sigma %g, bias factor %g, W %g per cycle; replay %s",
  P.points, P.points, P.sigma, P.bias_factor, P.height, tostring(P.replay)))

local sw = tp.mc.sample{ model = model, beta = P.beta, method = "swendsen_wang", chains = P.chains,
  burn_in = P.burn_in, samples = P.sw_samples, seed = P.seed + 100, label = "reference swendsen_wang" }
local ref_e, ref_se = sw.energy_per_site.mean, sw.energy_per_site.err
print(string.format("# SW reference: %d chains, burn-in %d, %d samples each: E/N %.5f(%.5f)", P.chains, P.burn_in,
  P.sw_samples, ref_e, ref_se))

-- per-sample majority colour (ties to the lower colour) as three 0/1 arrays
local function phases(x, n)
  local cnt = tp.observables.token_counts(x, n, N, 3)
  local ind = { ffi.new("double[?]", n), ffi.new("double[?]", n), ffi.new("double[?]", n) }
  local raw = { 0, 0, 0 }
  for i = 0, n - 1 do
    local c0, c1, c2 = cnt[3 * i], cnt[3 * i + 1], cnt[3 * i + 2]
    local k = (c0 >= c1 and c0 >= c2) and 1 or (c1 >= c2 and 2 or 3)
    ind[k][i] = 1
    raw[k] = raw[k] + 1
  end
  return ind, raw
end

local LABEL = { mdns = "MDNS", metadns = "MetaDNS", warm = "MetaDNS+warm" }
local rows = {}
for method in P.methods:gmatch("[%a_]+") do
  if not LABEL[method] then error("methods: mdns, metadns and/or warm, got " .. method) end
  local tm = tp.clock()
  local net = tp.nn.transformer{ lattice = lat, states = 3, embed = P.embed, depth = P.depth, heads = P.heads,
    seed = P.seed }
  -- every method takes steps + finish optimiser steps; MetaDNS+warm's last
  -- 'finish' of them are on the unbiased target
  local opts = { net = net, model = model, beta = P.beta, batch = P.batch, replicates = P.replicates,
    resample_every = P.resample_every, steps = P.steps + P.finish, lr = P.lr, seed = P.seed,
    log = tp.out(name .. "_" .. method .. ".log") }
  if P.checkpoint_every > 0 or P.resume then
    opts.checkpoint, opts.checkpoint_every = tp.out(name .. "_" .. method .. ".ckpt"), P.checkpoint_every
    opts.resume = P.resume and "auto"
  end
  if method == "mdns" then
    opts.cv = cv
  else
    opts.bias, opts.replay = new_bias(), P.replay
  end
  if method == "warm" then
    local w = tp.train.warm_start{ model = model, cv = cv, bias = opts.bias, beta = P.beta, chains = P.chains,
      cycles = P.warm_cycles, from = P.warm_from, every = P.warm_every, steps = P.pretrain, seed = P.seed + 200 }
    opts.pretrain, opts.deposit = w.pretrain, w.deposit
    if P.finish > 0 then opts.steps, opts.finish = P.steps, { steps = P.finish, lr = P.finish_lr } end
    print(string.format("# warm start: %d walkers, %d cycles (%.0f s), %d configurations, %d pretraining steps",
      P.chains, P.warm_cycles, w.seconds, w.n, P.pretrain))
  end
  local tr = tp.train[method == "mdns" and "mdns" or "metadns"](opts)
  tr:close()
  if tr.resumed_step then print(string.format("# %s resumed at step %d", LABEL[method], tr.resumed_step)) end
  local wall = (tp.clock() - tm) / 60
  print(LABEL[method] .. " " .. tr:status())
  local r = tr:evaluate{ n = P.samples, L = P.L, dump = tp.out(name .. "_" .. method .. ".tpd") }
  local s = r.samples
  local ind, raw = phases(s.x, s.n)
  local row = { name = LABEL[method], ness_lik = r.ness_lik, ness_bias = r.ness_bias, log_z = r.log_z, wall = wall,
    phase = {}, phase_se = {}, raw = {} }
  for k = 1, 3 do
    row.phase[k], row.phase_se[k] = A.mean(ind[k], s.log_rw, s.n, { seed = P.seed })
    row.raw[k] = raw[k] / s.n
  end
  local e = ffi.new("double[?]", s.n)
  for i = 0, s.n - 1 do e[i] = s.energy[i] / N end
  row.e, row.e_se = A.mean(e, s.log_rw, s.n, { seed = P.seed })
  row.z_e = (row.e - ref_e) / math.sqrt(row.e_se ^ 2 + ref_se ^ 2)
  rows[#rows + 1] = row
  rows[method] = row
end

print(string.format("\n%-13s %-44s %-18s %6s %7s %7s %-17s %9s %6s", "method", "phase weights (SE), exact 1/3 each",
  "E/N (SE)", "z", "NESS", "NESS_V", "unweighted", "log Z", "min"))
local function f(v, fmt) return v and string.format(fmt, v) or "-" end
for _, r in ipairs(rows) do
  local ph = {}
  for k = 1, 3 do ph[k] = string.format("%.3f(%.3f)", r.phase[k], r.phase_se[k]) end
  print(string.format("%-13s %-44s %-18s %6.1f %7s %7s %-17s %9.3f %6.1f", r.name, table.concat(ph, " "),
    string.format("%.5f(%.5f)", r.e, r.e_se), r.z_e, f(r.ness_lik, "%.3f"), f(r.ness_bias, "%.3f"),
    string.format("%.2f %.2f %.2f", r.raw[1], r.raw[2], r.raw[3]), r.log_z, r.wall))
end
print(string.format("%-13s %-44s %-18s", "Swendsen-Wang", "", string.format("%.5f(%.5f)", ref_e, ref_se)))
print("(phase weights: likelihood-reweighted fraction of samples by majority colour; E/N likelihood-reweighted,")
print(" z against SW in combined standard errors; NESS/NESS_V of likelihood/bias weights; unweighted: raw")
print(" fraction of samples per phase; min = wall minutes of the method, warm start included)")

local best = rows.warm or rows.metadns
if best then
  print(string.format("\ntargets for %s:", best.name))
  for k = 1, 3 do
    local z = (best.phase[k] - 1 / 3) / best.phase_se[k]
    print(string.format("target %-58s %s", string.format("phase %d weight within 3 SE of 1/3: z %.1f", k, z),
      math.abs(z) <= 3 and "met" or "MISSED"))
  end
  print(string.format("target %-58s %s", string.format("|z| of E/N <= 3: %.1f", best.z_e),
    math.abs(best.z_e) <= 3 and "met" or "MISSED"))
end
print(string.format("total wall time %.1f min", (tp.clock() - t_start) / 60))
