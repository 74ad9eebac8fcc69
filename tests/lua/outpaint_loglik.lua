-- tp.outpaint (stdlib/tempera/outpaint.lua): the log-likelihood bookkeeping
-- of out-painting a 2x4 periodic box from 2x2 windows (stride 1: 8 window
-- positions, 3 of which fill new sites) with a tiny untrained network
-- (q = 2, parameters perturbed away from uniform):
--  * along one set of window orders, exp(logq) of all 256 configurations,
--    scored by teacher forcing, sums to 1 within 1e-5 (float
--    log-probabilities summed in double);
--  * the same for a ring of 8 from a 4-site window, where context "near"
--    hides the filled sites 2 and 3 away from each new site;
--  * a drawn row's logq equals the teacher-forced logq of its own draws
--    with the same seed and stream (row r of an n-row call = a 1-row call
--    with stream + r);
--  * a tp.lattice.square(4) filled from the same network covers every site
--    and its weights are finite; bad geometry raises at the caller's line.
local tp = require "tempera"
tp.threads(1)   -- tiny network: one thread is fastest on a loaded machine
local ffi = require "ffi"

local net = tp.nn.transformer{ lattice_shape = { 2, 2 }, states = 2, embed = 16, depth = 1, heads = 2,
                               seed = 5, backend = "cpu" }
local p = net:get("params")
local rng = 777
for i = 0, net.num_params - 1 do
  rng = (rng * 1103515245 + 12345) % 2147483648
  p[i] = p[i] + (rng / 2147483648 - 0.5) * 1.3
end
net:set("params", p)
net:set("ema", p)

local N, K = 8, 256
local seed, stream = 21, 900
local total, pmax = 0, 0
local one = ffi.new("uint8_t[?]", N)
for c = 0, K - 1 do
  for i = 0, N - 1 do one[i] = math.floor(c / 2 ^ i) % 2 end
  local r = tp.outpaint{ net = net, shape = { 2, 4 }, window = { 2, 2 }, stride = { 1, 1 }, n = 1,
                         truth = one, seed = seed, stream = stream }
  for i = 0, N - 1 do assert(r.x[i] == one[i], "teacher forcing changed a site") end
  local pr = math.exp(r.logq[0])
  total = total + pr
  pmax = math.max(pmax, pr)
  if c == 0 then assert(r.windows == 3, "expected 3 windows with new sites, got " .. r.windows) end
end
assert(math.abs(total - 1) < 1e-5, string.format("exp(logq) over all 256 configurations sums to %.9f", total))
assert(pmax > 4 / K, string.format("network too close to uniform for a meaningful test (max p %.4f)", pmax))

-- the same on a ring of 8 from a 4-site window, where context "near"
-- hides filled sites 2 and 3 away from the new one
local net1 = tp.nn.transformer{ lattice_shape = { 4 }, states = 2, embed = 16, depth = 1, heads = 2,
                                seed = 6, backend = "cpu" }
local p1 = net1:get("params")
for i = 0, net1.num_params - 1 do
  rng = (rng * 1103515245 + 12345) % 2147483648
  p1[i] = p1[i] + (rng / 2147483648 - 0.5) * 1.3
end
net1:set("ema", p1)
local total1, total_all = 0, 0
for c = 0, K - 1 do
  for i = 0, N - 1 do one[i] = math.floor(c / 2 ^ i) % 2 end
  local r = tp.outpaint{ net = net1, shape = { 8 }, n = 1, truth = one, seed = seed, stream = stream }
  local ra = tp.outpaint{ net = net1, shape = { 8 }, n = 1, truth = one, seed = seed, stream = stream, context = "all" }
  total1, total_all = total1 + math.exp(r.logq[0]), total_all + math.exp(ra.logq[0])
  if c == 5 then assert(r.windows == 5 and r.logq[0] ~= ra.logq[0], "hiding changed nothing") end
end
assert(math.abs(total1 - 1) < 1e-5, string.format("ring, context near: exp(logq) sums to %.9f", total1))
assert(math.abs(total_all - 1) < 1e-5, string.format("ring, context all: exp(logq) sums to %.9f", total_all))

-- draws: logq equals teacher forcing of the drawn configuration
local n = 40
local d = tp.outpaint{ net = net, shape = { 2, 4 }, window = { 2, 2 }, stride = { 1, 1 }, n = n,
                       seed = seed, stream = stream }
for r = 0, n - 1 do
  for i = 0, N - 1 do one[i] = d.x[r * N + i] end
  assert(one[0] < 2 and one[N - 1] < 2, "a site left masked")
  local t = tp.outpaint{ net = net, shape = { 2, 4 }, window = { 2, 2 }, stride = { 1, 1 }, n = 1,
                         truth = one, seed = seed, stream = stream + r }
  assert(math.abs(t.logq[0] - d.logq[r]) < 1e-9,
    string.format("row %d: drawn logq %.12g, teacher forced %.12g", r, d.logq[r], t.logq[0]))
end

-- a square lattice (site = x + L*y) from the default window and stride
local lat = tp.lattice.square(4)
local model = tp.model.ising{ lattice = lat }
local big = tp.outpaint{ net = net, lattice = lat, n = 16, seed = 3, stream = 0 }
assert(big.sites == 16 and big.windows == 9, "4x4 from 2x2 windows with stride 1: " .. big.windows .. " windows")
local w, ness = tp.outpaint.weights(big, model, 0.3)
assert(ness > 0 and ness <= 1, "NESS out of range")
local s = 0
for i = 0, 15 do s = s + w[i]; assert(w[i] >= 0) end
assert(math.abs(s - 1) < 1e-12, "weights not normalised")

local ok, err = pcall(function() tp.outpaint{ net = net, shape = { 3, 4 }, stride = { 2, 2 }, n = 1 } end)
assert(not ok and tostring(err):find("period 3 must be >= the window 2 and a multiple of the stride 2", 1, true)
  and tostring(err):find("outpaint_loglik.lua", 1, true), "bad period accepted: " .. tostring(err))
ok, err = pcall(function() tp.outpaint{ net = net, shape = { 4, 4, 4 }, n = 1 } end)
assert(not ok and tostring(err):find("shape has 3 axes"), "wrong axes accepted: " .. tostring(err))
