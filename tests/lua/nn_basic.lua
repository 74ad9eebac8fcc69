-- tempera.nn: build a transformer from hyperparameters, forward, sample,
-- teacher-forced likelihood, WDCE training steps, checkpoint round trip,
-- errors raised at the caller's line.
local tp = require "tempera"
local ffi = require "ffi"

local net = tp.nn.transformer{ lattice_shape = { 3, 3 }, states = 2, embed = 16, depth = 2,
                               heads = 2, seed = 3, backend = "cpu", lr = 1e-2 }
assert(net.sites == 9 and net.states == 2 and net.axes == 2, tostring(net))
assert(tostring(net):find("tp.nn.transformer%(sites=9"), tostring(net))
assert(net.backend == "cpu")

-- forward on an all-masked batch: normalised log-probabilities over real states
local rows = 3
local x = ffi.new("uint8_t[?]", rows * 9, 2)
local lp = net:forward(x, rows)
for n = 0, rows * 9 - 1 do
  local z = math.exp(lp[2 * n]) + math.exp(lp[2 * n + 1])
  assert(math.abs(z - 1) < 1e-5, z)
end

-- sampling: tokens in range, teacher forcing along the same streams agrees
local s, lq = net:sample(4, { seed = 11, stream = 0, ema = false })
for i = 0, 4 * 9 - 1 do assert(s[i] == 0 or s[i] == 1) end
local lt = net:log_prob(s, 4, { seed = 11, stream = 0, ema = false })
for r = 0, 3 do assert(math.abs(lt[r] - lq[r]) < 1e-9 and lq[r] < 0, lt[r] .. " " .. lq[r]) end

-- WDCE steps on a fixed batch (the all-up and all-down states) lower the loss
local B = 4
local batch = ffi.new("uint8_t[?]", B * 9)
for b = 0, B - 1 do for i = 0, 8 do batch[b * 9 + i] = b % 2 end end
local first, last
for it = 1, 30 do
  local loss, ness = net:wdce_step(batch, { 0, 0, 0, 0 }, B, { replicates = 4, seed = 1, stream = 0 })
  assert(math.abs(ness - 1) < 1e-12)
  first = first or loss
  last = loss
end
assert(last < 0.8 * first, first .. " -> " .. last)
assert(net:steps() == 30)

-- checkpoint round trip with a slot; the next step agrees exactly
local path = "nn_basic.ckpt"
net:save(path, { bias = { 1.5, -2, 0.25 } })
local net2, slots = tp.nn.load(path, { backend = "cpu" })
assert(net2.num_params == net.num_params and net2:steps() == 30)
assert(#slots.bias == 3 and slots.bias[2] == -2)
local l1 = net:wdce_step(batch, { 0, 1, 0, 1 }, B, { replicates = 2, seed = 5, stream = 0 })
local l2 = net2:wdce_step(batch, { 0, 1, 0, 1 }, B, { replicates = 2, seed = 5, stream = 0 })
assert(l1 == l2, l1 .. " vs " .. l2)
local p1, p2 = net:get("params"), net2:get("params")
for i = 0, net.num_params - 1 do assert(p1[i] == p2[i]) end
os.remove(path)
local none, msg = tp.nn.load("does-not-exist.ckpt")
assert(none == nil and msg:find("cannot open"), msg)

-- other coordinate sources and helpers
local fcc = tp.nn.transformer{ coords = { { 0, 0, 0 }, { 0.5, 0.5, 0 }, { 0.5, 0, 0.5 }, { 0, 0.5, 0.5 } },
                               states = 2, embed = 12, depth = 1, heads = 1, backend = "cpu" }
assert(fcc.sites == 4 and fcc.axes == 3)
local w, ness = tp.nn.softmax_weights({ 0, math.log(3) })
assert(math.abs(w[0] - 0.25) < 1e-12 and math.abs(ness - 1 / (2 * (0.0625 + 0.5625))) < 1e-12)
assert(math.abs(tp.nn.ema_decay(0) - 0.1) < 1e-12)

-- a tempera lattice supplies its fractional coordinates; same network as
-- lattice_shape when the site orders agree (all-masked input: positions only)
local lat = tp.lattice.square(3)
local nl = tp.nn.transformer{ lattice = lat, states = 2, embed = 16, depth = 2, heads = 2, seed = 3, backend = "cpu" }
local ns = tp.nn.transformer{ lattice_shape = { 3, 3 }, states = 2, embed = 16, depth = 2, heads = 2, seed = 3, backend = "cpu" }
assert(nl.sites == 9 and nl.axes == 2)
local a, b = nl:forward(x, 1), ns:forward(x, 1)
local sa, sb = {}, {}
for i = 0, 17 do sa[#sa + 1] = a[i]; sb[#sb + 1] = b[i] end
table.sort(sa); table.sort(sb)
for i = 1, 18 do assert(math.abs(sa[i] - sb[i]) < 1e-5, sa[i] .. " vs " .. sb[i]) end

-- errors point at this file
local ok, err = pcall(tp.nn.transformer, { lattice_shape = { 4 }, states = 2, embed = 10, heads = 3 })
assert(not ok and err:find("nn_basic.lua:%d+: .*heads"), err)
ok, err = pcall(tp.nn.transformer, { states = 2 })
assert(not ok and err:find("nn_basic.lua:%d+: .*exactly one of"), err)
ok, err = pcall(function() net:forward({ 0, 1, 5, 0, 0, 0, 0, 0, 0 }, 1) end)
assert(not ok and err:find("nn_basic.lua:%d+: token 5"), err)
print("nn_basic ok")
