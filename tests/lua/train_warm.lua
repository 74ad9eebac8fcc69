-- Warm starts of the neural samplers (tp.train's pretrain =, deposit =
-- "weighted"; tp.mc.metad's harvest =):
--   * harvest keeps the walkers' configurations of the chosen cycles, the
--     last block equal to the chains' final states;
--   * pretraining fits the network to given configurations (3x3 Ising, all
--     up and all down: both reach q > 0.2 from about 2^-9), its steps count
--     in the step budget, deposit no hills, and seed the replay buffer;
--   * a run checkpointed in the middle of pretraining resumes bit for bit;
--   * weighted deposition equals bias:deposit with the batch's log_rnd;
--   * bad options fail at this file's line.
local tp = require "tempera"
local ffi = require "ffi"
tp.threads(1)

local beta = 0.7
local lat = tp.lattice.square(3)
local N = lat.n
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local function net(seed)
  return tp.nn.transformer{ lattice = lat, states = 2, embed = 8, depth = 1, heads = 2, seed = seed, backend = "cpu" }
end
local function bias()
  return tp.bias.grid{ cv = m, points = 19, sigma = 0.1, height = 1, bias_factor = 10, beta = beta }
end

-- harvest: cycles 10, 15, 20 of 16 walkers
local md = tp.mc.metad{ model = model, cv = m, bias = bias(), beta = beta, chains = 16, cycles = 20, seed = 3,
  harvest = { from = 10, every = 5 }, progress = false }
local h = md:harvested()
assert(h.n == 48 and h.sites == N, "harvested " .. h.n)
local fin = md.chains:states()
for i = 0, 16 * N - 1 do assert(h.x[32 * N + i] == fin[i], "last harvest differs from the final states") end
local none = tp.mc.metad{ model = model, cv = m, bias = bias(), beta = beta, chains = 4, cycles = 3, seed = 3,
  progress = false }
assert(none:harvested().n == 0)

-- pretraining data: all up and all down, alternating
local D = 64
local x = ffi.new("uint8_t[?]", D * N)
for r = 0, D - 1 do for i = 0, N - 1 do x[r * N + i] = r % 2 end end
local up, down = ffi.new("uint8_t[?]", N, 1), ffi.new("uint8_t[?]", N, 0)

local function opts(n, b, extra)
  local o = { net = n, model = model, beta = beta, bias = b, batch = 16, replicates = 2, resample_every = 3,
    steps = 36, lr = 2e-2, seed = 5, progress = false, replay = { size = 64, bins = 4, ratio = 0.5 },
    pretrain = { x = x, n = D, steps = 30, sites = N } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local n0 = net(1)
local function lq(nt, c, ema) return nt:log_prob(c, 1, { seed = 1, stream = 0, ema = ema })[0] end
local before = math.max(lq(n0, up, false), lq(n0, down, false))
assert(before < -4, "an untrained network already fits: " .. before)
local tr = tp.train.trainer(opts(n0, bias()))
assert(tr:replay_count() > 0, "pretraining data did not seed the replay buffer")
tr:run(30)
assert(n0:steps() == 30 and tr.hills == 0, "pretraining deposited hills or miscounted steps")
for k = 1, 30 do assert(tr.history[k].log_z ~= tr.history[k].log_z, "pretraining step has a log Z") end
local a, b = lq(n0, up, false), lq(n0, down, false)
assert(a > math.log(0.2) and b > math.log(0.2), string.format("after pretraining log q(up) %.3f, log q(down) %.3f", a, b))
tr:run()   -- the MetaDNS cycles follow
assert(n0:steps() == 36 and tr.hills > 0 and tr.history[36].log_z == tr.history[36].log_z)

-- resume in the middle of pretraining: bit for bit
local na, nb, nc = net(1), net(1), net(7)
local A = tp.train.metadns(opts(na, bias(), { deposit = "weighted" }))
local B1 = tp.train.trainer(opts(nb, bias(), { deposit = "weighted", checkpoint = "warm_b.ckpt" }))
B1:run(15)
assert(nb:steps() == 15)
local bc = bias()
local B2 = tp.train.metadns(opts(nc, bc, { deposit = "weighted", checkpoint = "warm_b.ckpt", resume = true }))
local pa, pc = na:get("params"), nc:get("params")
for i = 0, na.num_params - 1 do assert(pa[i] == pc[i], "parameters differ after resume") end
local va, vc = A.bias:values(), bc:values()
for i = 0, bc.size - 1 do assert(va[i] == vc[i], "bias differs after resume") end
assert(A.hills == B2.hills and A.stream == B2.stream)
os.remove("warm_b.ckpt")

-- weighted deposition: the batch's log_rnd shares out the cycle's height
local bw, bref = bias(), bias()
local tw = tp.train.trainer(opts(net(2), bw, { deposit = "weighted", pretrain = nil }))
local fresh = tw:draw(16)
tw:deposit(fresh)
bref:deposit(fresh.cv, fresh.n, fresh.log_rnd)
local v1, v2 = bw:values(), bref:values()
local differs = false
for i = 0, bw.size - 1 do
  assert(v1[i] == v2[i], "weighted deposit differs from bias:deposit with log_rnd")
end
local bu = bias()
bu:deposit(fresh.cv, fresh.n)
for i = 0, bu.size - 1 do if bu:values()[i] ~= v1[i] then differs = true end end
assert(differs, "weighted and uniform deposition agree on a batch with unequal weights")

-- errors point at this file
local function fails(pat, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pat)
  assert(err:find("train_warm.lua:%d+:") and err:find(pat, 1, true), err)
end
fails("deposit must be 'uniform' or 'weighted', got 'gaussian'", tp.train.trainer, opts(net(1), bias(), { deposit = "gaussian" }))
fails("pretrain = { x = uint8_t array", tp.train.trainer, opts(net(1), bias(), { pretrain = { x = {}, n = 2, steps = 1 } }))
fails("pretrain.steps must be a whole number", tp.train.trainer, opts(net(1), bias(), { pretrain = { x = x, n = D, steps = -1 } }))
fails("pretrain data has 16 sites per configuration, the network 9", tp.train.trainer,
  opts(net(1), bias(), { pretrain = { x = x, n = 4, steps = 1, sites = 16 } }))
local bad = ffi.new("uint8_t[?]", N, 2)
fails("tp.train.trainer: pretrain: token 2 at index 0 is not a real state", tp.train.trainer, opts(net(1), bias(), { pretrain = { x = bad, n = 1, steps = 1 } }))
fails("harvest = { from = cycle, every = k } needs every >= 1", tp.mc.metad,
  { model = model, cv = m, bias = bias(), beta = beta, chains = 4, cycles = 1, harvest = { every = 0 }, progress = false })

-- tp.train.warm_start: classical WT-MetaD, then trainer options; resume = "auto"
local wb = bias()
local w = tp.train.warm_start{ model = model, cv = m, bias = wb, beta = beta, chains = 8, cycles = 12, from = 4,
  every = 4, steps = 6, seed = 2, progress = false }
assert(w.n == 24 and w.pretrain.n == 24 and w.pretrain.steps == 6 and w.deposit == "weighted" and w.bias == wb)
assert(wb:info().nhills == 96, "warm start deposited " .. wb:info().nhills .. " hills")
local function wopts(n, extra)
  local o = { net = n, model = model, beta = beta, bias = bias(), batch = 8, replicates = 2, resample_every = 3,
    steps = 12, lr = 1e-2, seed = 5, progress = false, pretrain = w.pretrain, deposit = w.deposit,
    checkpoint = "warm_auto.ckpt", resume = "auto" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end
os.remove("warm_auto.ckpt")
local nf = net(1)
local ta = tp.train.trainer(wopts(nf))
assert(nf:steps() == 0, "resume = 'auto' resumed without a checkpoint")
ta:run(6)
local nr = net(1)
tp.train.trainer(wopts(nr))
assert(nr:steps() == 6, "resume = 'auto' did not resume from the checkpoint")
os.remove("warm_auto.ckpt")
local nock = wopts(net(1))
nock.checkpoint = nil
fails("resume = \"auto\" needs checkpoint = path", tp.train.trainer, nock)
fails("no configuration kept", tp.train.warm_start, { model = model, cv = m, bias = bias(), beta = beta, chains = 4,
  cycles = 3, from = 1, every = 5, progress = false })
