-- The dump report reweights a neural sampler's dump with its likelihood
-- weights (logw_lik = -beta E - log q): its reweighted <E> agrees with exact
-- enumeration within 3 standard errors.  (It used to take logw_bias, which
-- is zero for MDNS, and reported the network's own biased mean as
-- "reweighted": 24 standard errors off on make run's dump.)
local tp = require "tempera"

local lat = tp.lattice.square(3)
local model = tp.model.ising{ lattice = lat }
local beta = 0.6
local ex = tp.exact(model, beta)
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 8, depth = 1, heads = 2, seed = 7, backend = "cpu" }
local tr = tp.train.mdns{ net = net, model = model, beta = beta, batch = 32, replicates = 2, resample_every = 2,
  steps = 40, lr = 3e-3, progress = false, log = "nn.log" }
tr:run()
local r = tr:evaluate{ n = 8192, dump = "nn.tpd", seed = 3 }
tr:close()

local rep = tp.report.new{ out = "rep" }
rep:dump("nn.tpd", { bootstrap = 100 })
local res = rep.results.nn
assert(res.weighting == "logw_lik", "the report weighted with " .. tostring(res.weighting))
local e = res.stats.energy
local z = (e.reweighted - ex.mean_e) / e.reweighted_err
print(string.format("reweighted <E> %.4f +- %.4f, exact %.4f (z = %.2f); sampled mean %.4f (z = %.1f)",
  e.reweighted, e.reweighted_err, ex.mean_e, z, e.mean, (e.mean - ex.mean_e) / e.reweighted_err))
assert(math.abs(z) < 3, "reweighted <E> is " .. z .. " standard errors from exact")
-- the same weights as the trainer's own evaluation
assert(math.abs(res.ness - r.ness_lik) < 1e-9, "report NESS " .. res.ness .. " vs evaluate " .. r.ness_lik)

-- the run-directory report: the training curves it finds, the weighting
-- named, PMFs in k_B T, correlations with error bars rounded to them
local mcv = tp.cv.magnetization(lat)
local bb = tp.bias.grid{ cv = mcv, points = 19, sigma = 0.1, height = 1, beta = beta }
bb:deposit({ 0.2 })
bb:save("run.bias")
tp.plumed.write_hills("HILLS", { cv = { "m" }, centers = { -0.5, 0.5 }, sigma = { 0.1 }, heights = { 1, 1 },
  bias_factor = 10, n = 2 })
local rd = tp.report.new{ out = "rdrep" }
rd:run_dir(".")
local md = rd:write()
local f = assert(io.open(md))
local text = f:read("*a")
f:close()
for _, want in ipairs { "Training log `nn.log`", "Bias `run.bias`", "HILLS `HILLS`", "Training curves of nn.log", "weighting | logw_lik",
  "F / k_B T", "errors by batch means", "reweighted mean +- bootstrap error" } do
  assert(text:find(want, 1, true), "the run report lacks '" .. want .. "'")
end
assert(text:match("| 1 | %-?[%d.]+ %+%- [%d.]+ |"), "G(1) has no error bar")
local dat = assert(io.open("rdrep/nn.log_training.dat"))
local n = 0
for l in dat:lines() do if not l:find("^#") then n = n + 1 end end
dat:close()
assert(n == 40, "training curve data holds " .. n .. " steps")
