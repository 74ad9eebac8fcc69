-- Training does not depend on the thread count: MetaDNS steps (draws,
-- WDCE loss and gradient, Adam, EMA, bias deposits) and an evaluation on
-- 1 and 2 threads give the same parameters, losses and statistics, bit
-- for bit (tempera(1), --threads).  Before the matrix products split at
-- fixed 64-column edges, the gradients differed in the last bits.
local tp = require "tempera"
local lat = tp.lattice.square(8)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local res = {}
for _, th in ipairs { 1, 2 } do
  tp.threads(th)
  local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 32, depth = 2, heads = 4, seed = 4, backend = "cpu" }
  local bias = tp.bias.grid{ cv = m, points = 65, sigma = 0.05, height = 0.5, bias_factor = 10, beta = 0.4 }
  local tr = tp.train.metadns{ net = net, model = model, beta = 0.4, bias = bias, batch = 64, replicates = 4,
    resample_every = 2, steps = 6, lr = 1e-3, seed = 2, progress = false }
  local ev = tr:evaluate{ n = 512, bootstrap = 20 }
  res[th] = { p = net:get("params"), np = net.num_params, loss = tr.history[#tr.history].loss, bias = bias:values(),
    size = bias.size, mag = ev.mag, ness = ev.ness_lik, log_z = ev.log_z }
end
local a, b = res[1], res[2]
for i = 0, a.np - 1 do assert(a.p[i] == b.p[i], "parameter " .. i .. " differs between 1 and 2 threads") end
for i = 0, a.size - 1 do assert(a.bias[i] == b.bias[i], "bias differs at " .. i) end
assert(a.loss == b.loss and a.mag == b.mag and a.ness == b.ness and a.log_z == b.log_z,
  string.format("loss %.17g/%.17g mag %.17g/%.17g", a.loss, b.loss, a.mag, b.mag))
