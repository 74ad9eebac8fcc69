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
  steps = 40, lr = 3e-3, progress = false }
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
