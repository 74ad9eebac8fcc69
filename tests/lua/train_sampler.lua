-- tempera.sampler: the masked-diffusion sampler's exact log-likelihood
-- equals teacher forcing along the same order; along one fixed order the
-- probabilities of all 2^4 configurations of a 2x2 lattice sum to 1; the
-- batch's log-weights follow tempera-train(5) (log_rnd = -beta(E+V) - logq -
-- D log q, log_rw = -beta E - logq, bias log w = beta V); concat; errors
-- (unknown option, CV/lattice and bias/CV mismatches) point at this file.
local tp = require "tempera"
local ffi = require "ffi"
tp.threads(1)

local lat = tp.lattice.square(3)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 8, depth = 1, heads = 2, seed = 4, backend = "cpu" }
local bias = tp.bias.grid{ cv = m, points = 10, kernel = "delta", height = 3, beta = 0.5 }
bias:deposit({ { 1 }, { 1 }, { 7 / 9 } })
local S = tp.sampler.masked_diffusion(net, { model = model, beta = 0.5, bias = bias })
assert(tostring(S):find("biased"))

-- sampled log-likelihood == teacher-forced log-likelihood along the same order
local s = S:sample(16, { seed = 5, stream = 100 })
local t = S:score(s.x, 16, { seed = 5, stream = 100 })
local lq = S:log_prob(s.x, 16, { seed = 5, stream = 100 })
for i = 0, 15 do
  assert(s.logq[i] == t.logq[i] and s.logq[i] == lq[i], s.logq[i] .. " vs " .. t.logq[i])
  assert(s.logq[i] < 0)
end
-- another order gives another likelihood for most rows (any-order model)
local u = S:score(s.x, 16, { seed = 5, stream = 200 })
local differ = 0
for i = 0, 15 do if u.logq[i] ~= s.logq[i] then differ = differ + 1 end end
assert(differ >= 8, differ)

-- log-weights by hand
local D = 9 * math.log(2)
for i = 0, 15 do
  local E = model:energy(s.x + 9 * i)
  local mm = m:value(s.x + 9 * i)
  local V = bias:value(mm)
  assert(s.energy[i] == E and s.cv[i] == mm and s.v[i] == V)
  assert(math.abs(s.log_rnd[i] - (-0.5 * (E + V) - s.logq[i] - D)) < 1e-12)
  assert(math.abs(s.log_rw[i] - (-0.5 * E - s.logq[i])) < 1e-12)
  assert(math.abs(s.logw_bias[i] - 0.5 * V) < 1e-12)
end
assert(s.log_const == D and s.n == 16)
-- bias = false: the unbiased target
local s0 = S:sample(4, { seed = 5, stream = 100, bias = false })
for i = 0, 3 do
  assert(s0.v == nil and s0.logq[i] == s.logq[i])
  assert(math.abs(s0.log_rnd[i] - (-0.5 * s0.energy[i] - s0.logq[i] - D)) < 1e-12)
end

-- along one fixed order (the same stream for every configuration) the
-- model is a normalised distribution over all 16 configurations of 2x2
local lat2 = tp.lattice.square(2)
local net2 = tp.nn.transformer{ lattice = lat2, states = 2, embed = 8, depth = 1, heads = 2, seed = 9, backend = "cpu" }
local S2 = tp.sampler.masked_diffusion(net2)
local x = ffi.new("uint8_t[4]")
for _, stream in ipairs { 0, 1, 2 } do
  local z = 0
  for c = 0, 15 do
    for i = 0, 3 do x[i] = bit.band(bit.rshift(c, i), 1) end
    z = z + math.exp(S2:log_prob(x, 1, { seed = 1, stream = stream })[0])
  end
  assert(math.abs(z - 1) < 1e-5, "sum over configurations " .. z)
end

-- concat keeps rows and fields
local a, b = S:sample(3, { seed = 1, stream = 0 }), S:sample(2, { seed = 1, stream = 50 })
local ab = tp.sampler.concat(a, b)
assert(ab.n == 5 and ab.log_rnd[3] == b.log_rnd[0] and ab.cv[2] == a.cv[2] and ab.x[9 * 3 + 4] == b.x[4])

-- errors point at this file
local function fails(pat, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pat)
  assert(err:find("train_sampler.lua:%d+:") and err:find(pat), err)
end
fails("unknown option 'temperature'", tp.sampler.masked_diffusion, net, { temperature = 1 })
fails("network from tp.nn.transformer", tp.sampler.masked_diffusion, {}, {})
fails("model has 16 sites but the network has 9", tp.sampler.masked_diffusion, net,
  { model = tp.model.ising{ lattice = tp.lattice.square(4) }, beta = 1 })
fails("CV 'magnetization' is defined on 16 sites but the network has 9", tp.sampler.masked_diffusion, net,
  { cv = tp.cv.magnetization(tp.lattice.square(4)) })
local b2 = tp.bias.grid{ range = { { 0, 1 }, { 0, 1 } }, points = 5, kernel = "delta", height = 1, beta = 1 }
fails("CV 'magnetization' has dimension 1 but the bias has 2", tp.sampler.masked_diffusion, net,
  { model = model, beta = 1, bias = b2, cv = m })
fails("the bias has no CV", tp.sampler.masked_diffusion, net, { model = model, beta = 1, bias = b2 })
fails("unknown option 'n'", S.sample, S, 4, { n = 3 })
