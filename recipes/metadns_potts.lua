-- recipes/metadns_potts.lua -- MDNS and MetaDNS on the 3-state Potts model
-- with the 2-D simplex CV (tempera-models(5), tempera-methods(7), tempera-train(5)), against exact enumeration.
--
-- What it shows: a two-dimensional bias (17 x 17 grid on
-- [-0.6, 1.1] x [-1, 1], the papers' box and grid) inside
-- tp.train.metadns, the CV-stratified replay buffer in 2-D (8 x 8 cells),
-- and plain MDNS with the same network and budget; both are sampled and
-- reweighted (log w = -beta E - log p) and compared with exact
-- enumeration: how the unweighted samples spread over the three ordered
-- phases (majority colour; MDNS tends to keep one), the likelihood-
-- reweighted energy, and the summary table: Mag. = E[(3 max_k c_k - 1)/2],
-- Corr. = <delta(x_i, x_i+1)> - 1/3, NESS of both weightings, JS of the
-- 2-D CV histogram, PMF RMSE in k_B T (MetaDNS: the 2-D bias PMF; MDNS:
-- the reweighted samples'), log Z-hat and wall seconds per step.
-- Defaults: 3x3 at the papers' low temperature beta 1.2 (W 0.0833 per
-- cycle; 0.0995 / 0.2 at the critical / high temperature), a small
-- network; --set L=4 gives the papers' lattice (exact enumeration of 3^16
-- states takes a few seconds more); --set methods=metadns runs one method.
-- The final samples go to metadns_potts_mdns.tpd / metadns_potts.tpd.
-- Expected time: about 30 s CPU, 70 s wall on 2 busy cores (--threads 1)
-- with the defaults (600 steps per method); measured: MDNS puts every
-- sample in one colour (1.000, JS 0.33), MetaDNS spreads them 0.19 / 0.47
-- / 0.34 with JS 6e-3, Mag. 0.946 and Corr. 0.610 against the exact 0.952
-- and 0.615, log Z-hat 22.96 against 22.90, NESS 0.026 and bias PMF RMSE
-- 5.1 k_B T (the 2-D bias is far from converged after 60 cycles).  The
-- golden test runs 20 steps of a tiny network per method in about a second.
local tp = require "tempera"

local P = tp.params{ L = 3, beta = 1.2, embed = 32, depth = 2, heads = 4, batch = 64, replicates = 8,
  resample_every = 10, steps = 600, lr = 1e-3, points = 17, sigma = 0.05, height = 0.0833,
  methods = "mdns,metadns", samples = 1024, seed = 1 }

local lat = tp.lattice.square(P.L)
local model = tp.model.potts{ lattice = lat, q = 3 }
local cv = tp.cv.simplex(lat)
local N = lat.n
local range = { { -0.6, 1.1 }, { -1.0, 1.0 } }
local ref = tp.exact(model, P.beta, { cv = cv, points = { P.points, P.points }, range = range })
-- exact Mag. (from the exact distribution of the colour counts) and Corr.
local exact = tp.evaluate.exact_row(model, P.beta, { reference = ref })

local rows = {}
for method in P.methods:gmatch("[%a_]+") do
  if method ~= "mdns" and method ~= "metadns" then error("methods: mdns and/or metadns, got " .. method) end
  local bias = method == "metadns" and tp.bias.grid{ cv = cv, range = range, points = P.points, sigma = P.sigma,
    height = P.height, bias_factor = 10, beta = P.beta } or nil
  local net = tp.nn.transformer{ lattice = lat, states = 3, embed = P.embed, depth = P.depth, heads = P.heads,
    seed = P.seed, backend = "cpu" }
  local name = bias and "MetaDNS" or "MDNS"
  print(string.format("# %s Potts q=3 %dx%d beta %g: %s", name, P.L, P.L, P.beta, tostring(net)))
  local opts = { net = net, model = model, beta = P.beta, batch = P.batch, replicates = P.replicates,
    resample_every = P.resample_every, steps = P.steps, lr = P.lr,
    log = tp.out(bias and "metadns_potts.log" or "metadns_potts_mdns.log") }
  local tr
  if bias then
    opts.bias, opts.replay = bias, true
    tr = tp.train.metadns(opts)
  else
    opts.cv = cv
    tr = tp.train.mdns(opts)
  end
  tr:close()
  print(tr:status())

  local r = tr:evaluate{ n = P.samples, L = P.L, reference = ref,
    dump = tp.out(bias and "metadns_potts.tpd" or "metadns_potts_mdns.tpd") }
  local s = r.samples
  local phase = { 0, 0, 0 }
  for b = 0, s.n - 1 do
    local c = { 0, 0, 0 }
    for i = 0, N - 1 do local k = s.x[b * N + i] + 1; c[k] = c[k] + 1 end
    local best = 1
    for k = 2, 3 do if c[k] > c[best] then best = k end end
    phase[best] = phase[best] + 1
  end
  print(string.format("samples by majority colour: %.3f %.3f %.3f (exact 1/3 each)", phase[1] / s.n, phase[2] / s.n,
    phase[3] / s.n))
  local st = tp.analysis.stats{ bootstrap = 100 }
  st:add(s.energy, s.log_rw, s.n)
  local su = st:summary()
  print(string.format("energy per site %.4f +- %.4f (exact %.4f)", su.mean / N, su.err.mean / N, ref.energy_per_site))
  local rmse = r.pmf_rmse_bias or r.pmf_rmse_samples
  rows[#rows + 1] = { name = name, mag = r.mag, corr1 = r.corr1, ness_lik = r.ness_lik, ness_bias = r.ness_bias,
    js = r.js, pmf_rmse_bias = rmse and rmse * P.beta, log_z = r.log_z, s_step = r.s_step }
end
rows[#rows + 1] = { name = "exact", mag = exact.mag, corr1 = exact.corr1, log_z = exact.log_z }
print(tp.evaluate.table(rows))
print("(Mag. = E[(3 max_k c_k - 1)/2], Corr. = <delta(x_i, x_i+1)> - 1/3, NESS/NESS_V of likelihood/bias weights,")
print(" JS of the 2-D CV histogram vs exact, PMF RMSE in k_B T (MetaDNS: the bias; MDNS: reweighted samples),")
print(" s/step = wall seconds per training step)")
