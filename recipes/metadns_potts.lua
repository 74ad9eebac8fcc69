-- recipes/metadns_potts.lua -- MetaDNS on the 3-state Potts model with the
-- 2-D simplex CV (science.md 2 and 5).
--
-- What it shows: a two-dimensional bias (17 x 17 grid on
-- [-0.6, 1.1] x [-1, 1], the papers' box) inside tp.train.metadns, the
-- CV-stratified replay buffer in 2-D (8 x 8 cells), and the result against
-- exact enumeration: how the unweighted samples spread over the three
-- ordered phases (majority colour; MDNS, --set bias=false, tends to keep
-- one), the likelihood-reweighted energy and <delta(x_i, x_i+1)> - 1/3,
-- NESS of both weightings and the RMSE of the 2-D bias PMF.  Defaults: 3x3
-- at the papers' low temperature beta 1.2 (W 0.0833 per cycle), a small
-- network; --set L=4 gives the papers' lattice (exact enumeration of 3^16
-- states takes a few seconds more).
-- Expected time: about 20 s on 2 CPU cores with the defaults (600 steps)
-- and OMP_WAIT_POLICY=PASSIVE (4 minutes with spinning OpenMP threads on a
-- busy machine); measured: samples by majority colour 0.38 / 0.23 / 0.39,
-- energy per site -1.891 +- 0.033 against the exact -1.897, NESS 0.016
-- (short training), bias PMF RMSE 5.3 k_B T (the 2-D bias is far from
-- converged after 60 cycles).  The golden test runs 20 steps of a tiny
-- network in about a second.
local tp = require "tempera"

local P = tp.params{ L = 3, beta = 1.2, embed = 32, depth = 2, heads = 4, batch = 64, replicates = 8,
  resample_every = 10, steps = 600, lr = 1e-3, points = 17, sigma = 0.05, height = 0.0833, bias = true,
  samples = 1024, seed = 1 }

local lat = tp.lattice.square(P.L)
local model = tp.model.potts{ lattice = lat, q = 3 }
local cv = tp.cv.simplex(lat)
local range = { { -0.6, 1.1 }, { -1.0, 1.0 } }
local ref = tp.exact(model, P.beta, { cv = cv, points = { P.points, P.points }, range = range })
local bias = P.bias and tp.bias.grid{ cv = cv, range = range, points = P.points, sigma = P.sigma,
  height = P.height, bias_factor = 10, beta = P.beta } or nil
local net = tp.nn.transformer{ lattice = lat, states = 3, embed = P.embed, depth = P.depth, heads = P.heads,
  seed = P.seed, backend = "cpu" }
print(string.format("# %s Potts q=3 %dx%d beta %g: %s", bias and "MetaDNS" or "MDNS", P.L, P.L, P.beta, tostring(net)))

local opts = { net = net, model = model, beta = P.beta, batch = P.batch, replicates = P.replicates,
  resample_every = P.resample_every, steps = P.steps, lr = P.lr, log = tp.out("metadns_potts.log") }
local tr
if bias then
  opts.bias, opts.replay = bias, true
  tr = tp.train.metadns(opts)
else
  opts.cv = cv
  tr = tp.train.mdns(opts)
end
tr:close()
local last = tr.history[#tr.history]
print(string.format("after %d steps: loss %.4f, batch NESS %.3f, CV coverage %.3f, %d hills", last.step, last.loss,
  last.ness, last.coverage, tr.hills))

local r = tr:evaluate{ n = P.samples, L = P.L, dump = tp.out("metadns_potts.tpd") }
local s, N = r.samples, lat.n
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
print(string.format("energy per site %.4f +- %.4f (exact %.4f); log Z-hat %.4f (exact %.4f)", su.mean / N,
  su.err.mean / N, ref.energy_per_site, r.log_z, ref.log_z))
print(string.format("<delta(x_i, x_i+1)> - 1/3: %.4f (exact %.4f)", r.corr1, -ref.energy_per_site / 2 - 1 / 3))
print(string.format("NESS likelihood %.3f%s", r.ness_lik, r.ness_bias and string.format(", bias %.3f", r.ness_bias) or ""))
if bias then
  local F = bias:pmf()
  local fb = {}
  for i = 1, bias.size do fb[i] = F[i - 1] end
  local rmse, used = tp.analysis.pmf_rmse(fb, ref.pmf)
  print(string.format("2-D bias PMF RMSE %.3f k_B T over %d reachable grid points", rmse * P.beta, used))
end
