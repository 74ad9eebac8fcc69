-- recipes/outpaint_ising.lua -- out-painting (tempera-nn(5), tempera-methods(7)): a sampler
-- trained on a small lattice fills a larger one, and importance weights
-- make the result exact for the larger lattice's Boltzmann distribution.
--
-- What it shows: MDNS (tp.train.mdns) trains a transformer on the 4x4
-- periodic Ising model; tp.outpaint then fills an 8x8 lattice with it,
-- window by window (4x4 windows at offsets of 1 site, raster order, the
-- already-filled sites of each window given and the rest in-painted by
-- net:inpaint).  The sum of the windows' log-likelihoods is the exact
-- log q of the whole process, so log w = -beta E_8x8 - log q reweights the
-- draws to the 8x8 model; the table compares raw and reweighted Mag.
-- (E|m|) and Corr. (<s_i s_i+1> = -E/2N) with Swendsen-Wang on 8x8, with
-- standard errors (self-normalised importance sampling: sqrt(sum w^2
-- (f - f_w)^2); SW: tau_int over chains) and the NESS of the weights.
-- Expected time: about 25 s CPU (45-65 s wall on 2 shared cores) with the
-- defaults (400 MDNS steps, 2048 out-painted samples, SW 64 chains);
-- measured: 4x4 NESS 0.80; on 8x8 raw Mag. 0.300(5), Corr. 0.344(3),
-- weighted 0.254(17), 0.336(11) with NESS 0.062, SW 0.2756(24),
-- 0.3574(16).  The raw draws carry the 4x4 model's finite-size bias; the
-- weights remove it up to the noise of a small NESS (it varies several
-- fold between seeds).  The golden test runs 20 steps of a tiny network
-- in under a second.
local tp = require "tempera"

local P = tp.params{ L = 8, Lw = 4, beta = 0.3, embed = 32, depth = 2, heads = 4, batch = 64, replicates = 8,
  resample_every = 10, steps = 400, lr = 1e-3, samples = 2048, chains = 64, burn_in = 256, sw_samples = 200,
  seed = 1 }

local small = tp.lattice.square(P.Lw)
local small_model = tp.model.ising{ lattice = small }
local big = tp.lattice.square(P.L)
local big_model = tp.model.ising{ lattice = big }

local net = tp.nn.transformer{ lattice = small, states = 2, embed = P.embed, depth = P.depth, heads = P.heads,
  seed = P.seed, backend = "cpu" }
print(string.format("# out-painting Ising %dx%d from a %dx%d MDNS sampler, beta %g", P.L, P.L, P.Lw, P.Lw, P.beta))
print(string.format("# %s; %d steps, B %d, R %d", tostring(net), P.steps, P.batch, P.replicates))

local t0 = os.clock()
local tr = tp.train.mdns{ net = net, model = small_model, beta = P.beta, batch = P.batch,
  replicates = P.replicates, resample_every = P.resample_every, steps = P.steps, lr = P.lr }
local last = tr.history[#tr.history]
print(string.format("trained on %dx%d: NESS %.3f, log Z-hat %.3f", P.Lw, P.Lw, last.ness, last.log_z))

local r = tp.outpaint{ net = net, lattice = big, window = { P.Lw, P.Lw }, n = P.samples, seed = P.seed, stream = 0 }
local w, ness, e = tp.outpaint.weights(r, big_model, P.beta)
io.stderr:write(string.format("training + out-painting: %.1f s CPU\n", os.clock() - t0))

-- per-sample observables: |m| and -E/(2N)
local N, n = r.sites, r.n
local mag, corr = {}, {}
for i = 0, n - 1 do
  local s = 0
  for k = 0, N - 1 do s = s + 2 * r.x[i * N + k] - 1 end
  mag[i], corr[i] = math.abs(s) / N, -e[i] / (2 * N)
end
local function raw(f)
  local m, v = 0, 0
  for i = 0, n - 1 do m = m + f[i] / n end
  for i = 0, n - 1 do v = v + (f[i] - m) ^ 2 end
  return m, math.sqrt(v / (n - 1) / n)
end
local function weighted(f)
  local m, v = 0, 0
  for i = 0, n - 1 do m = m + w[i] * f[i] end
  for i = 0, n - 1 do v = v + w[i] ^ 2 * (f[i] - m) ^ 2 end
  return m, math.sqrt(v)
end

local sw = tp.mc.sample{ model = big_model, beta = P.beta, method = "swendsen_wang", chains = P.chains,
  burn_in = P.burn_in, samples = P.sw_samples, seed = P.seed + 100, progress = false }
local sw_corr = { mean = -sw.energy_per_site.mean / 2, err = sw.energy_per_site.err / 2 }

local function cell(m, s) return string.format("%.4f(%d)", m, math.ceil(s * 1e4)) end
print(string.format("%d samples from %d windows", n, r.windows))
print(string.format("%-22s %14s %14s %8s", "method", "Mag.", "Corr.", "NESS"))
local rm, rs = raw(mag)
local cm, cs = raw(corr)
print(string.format("%-22s %14s %14s %8s", "out-painted, raw", cell(rm, rs), cell(cm, cs), "-"))
rm, rs = weighted(mag)
cm, cs = weighted(corr)
print(string.format("%-22s %14s %14s %8.3f", "out-painted, weighted", cell(rm, rs), cell(cm, cs), ness))
print(string.format("%-22s %14s %14s %8s", "Swendsen-Wang", cell(sw.mag.mean, sw.mag.err),
  cell(sw_corr.mean, sw_corr.err), "-"))
print("(Mag. = E|m|, Corr. = <s_i s_i+1>, error in the last digits; NESS of the likelihood weights)")
