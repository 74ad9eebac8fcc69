-- recipes/metadns_ising.lua -- MetaDNS (tempera-train(5), tempera-methods(7)): the masked-diffusion
-- sampler trained against a well-tempered metadynamics bias along the
-- magnetisation, on the Ising model.
--
-- What it shows: tp.train.metadns with the papers' bias settings (bias
-- factor 10, sigma 0.05, Gaussian kernel, B hills per cycle, height per
-- cycle W from the papers for each beta), one bias snapshot per batch,
-- the CV-stratified replay buffer (1024 entries, 8 bins, half the batch),
-- the per-step log (metadns_ising.log), checkpoints (--set resume=true),
-- and then both reweightings: bias-based (log w = beta V, NESS_V) and
-- likelihood-based (log w = -beta E - log p, NESS), the PMF from the bias
-- and from reweighted samples against exact enumeration (L <= 5), a dump
-- of final samples (metadns_ising.tpd) and the summary table.  Unlike
-- recipes/mdns_ising.lua it keeps both magnetisation signs (P(m > 0)).
-- The grid has one point per possible m (L^2 + 1) unless points = is set
-- (the paper: 257 on 16x16).  Sizes are reduced from the paper for a CPU
-- (see mdns_ising.lua).  Expected time: about 70 s on 2 CPU cores with the
-- defaults (4x4, beta 0.6, 1000 steps); measured: P(m > 0) = 0.512, JS of
-- P(m) 7e-4, Mag. and Corr. within 1e-3 of exact, NESS 0.67, log Z-hat
-- 20.08 against 20.06; the bias itself is far from converged after 100
-- cycles of W = 0.1667 (PMF RMSE 3.8 k_B T) while the likelihood-reweighted
-- samples give the PMF within 0.57 k_B T.  The golden test runs a tiny
-- network for 20 steps in about a second.
local tp = require "tempera"

local P = tp.params{ L = 4, beta = 0.6, embed = 32, depth = 2, heads = 4, batch = 64, replicates = 8,
  resample_every = 10, steps = 1000, lr = 1e-3, points = 0, sigma = 0.05, bias_factor = 10, height = 0,
  replay = true, samples = 2048, report_every = 100, resume = false, seed = 1 }

local W_paper = { [0.6] = 0.1667, [0.4407] = 1.1345, [0.28] = 1.7855 }
local W = P.height > 0 and P.height or W_paper[P.beta] or 0.5 / P.beta
local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local points = P.points > 0 and P.points or P.L * P.L + 1
local ref
if P.L <= 5 then ref = tp.exact(model, P.beta, { cv = m, points = points, range = { -1, 1 } }) end

local bias = tp.bias.grid{ cv = m, points = points, sigma = P.sigma, height = W, bias_factor = P.bias_factor,
  beta = P.beta }
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = P.heads,
  seed = P.seed, backend = "cpu" }
print(string.format("# MetaDNS Ising %dx%d beta %g: %s", P.L, P.L, P.beta, tostring(net)))
print(string.format("# B %d, R %d, resample every %d, %d steps, lr %g; %s; replay %s", P.batch, P.replicates,
  P.resample_every, P.steps, P.lr, tostring(bias), tostring(P.replay)))

local t0 = os.clock()
local tr = tp.train.metadns{ net = net, model = model, beta = P.beta, bias = bias, batch = P.batch,
  replicates = P.replicates, resample_every = P.resample_every, steps = P.steps, lr = P.lr,
  replay = P.replay, log = tp.out("metadns_ising.log"), checkpoint = tp.out("metadns_ising.ckpt"),
  resume = P.resume }
tr:close()
local cpu = os.clock() - t0

print("  step     loss     NESS    log Z    coverage   hills")
for _, h in ipairs(tr.history) do
  if h.step % P.report_every == 0 or h.step == P.steps then
    print(string.format("%6d %8.4f %8.3f %8.3f %8.3f %8d", h.step, h.loss, h.ness, h.log_z, h.coverage, h.hills))
  end
end
io.stderr:write(string.format("training: %.3f s CPU per step\n", cpu / math.max(#tr.history, 1)))

local r = tr:evaluate{ n = P.samples, reference = ref, L = P.L, dump = tp.out("metadns_ising.tpd") }
local plus = 0
for i = 0, r.n - 1 do if r.samples.cv[i] > 0 then plus = plus + 1 end end
print(string.format("%d samples, P(m > 0) = %.3f, log Z-hat %.4f%s", r.n, plus / r.n, r.log_z,
  ref and string.format(" (exact %.4f)", ref.log_z) or ""))
if ref then
  print("m        F_bias/kT  F_samples/kT  F_exact/kT")
  local fmin = math.huge
  for i = 1, #ref.pmf do fmin = math.min(fmin, ref.pmf[i]) end
  for i, g in ipairs(ref.grid[1]) do
    if ref.pmf[i] < math.huge then
      local fs = r.pmf_samples[i]
      print(string.format("%+.4f %10.3f %13s %11.3f", g, r.pmf_bias[i] * P.beta,
        fs < math.huge and string.format("%.3f", fs * P.beta) or "inf", (ref.pmf[i] - fmin) * P.beta))
    end
  end
end
local rows = { { name = "MetaDNS", mag = r.mag, corr1 = r.corr1, ness_lik = r.ness_lik, ness_bias = r.ness_bias,
  js = r.js, pmf_rmse_bias = r.pmf_rmse_bias and r.pmf_rmse_bias * P.beta } }
if ref then
  local ex = tp.evaluate.exact_row(model, P.beta, { reference = ref })   -- E|m| and <s_i s_i+1>, exact
  rows[2] = { name = "exact", mag = ex.mag, corr1 = ex.corr1 }
end
print(tp.evaluate.table(rows))
if r.pmf_rmse_samples then
  print(string.format("PMF RMSE from likelihood-reweighted samples: %.3f k_B T", r.pmf_rmse_samples * P.beta))
end
print("(Mag. = E|m|, Corr. = <s_i s_i+1>, NESS/NESS_V of likelihood/bias weights, JS of P(m), PMF RMSE of the bias in k_B T)")
