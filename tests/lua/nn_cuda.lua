-- The stdlib's neural samplers on the CUDA backend, call for call against
-- the CPU backend: the same initial parameters, forward log-probabilities,
-- draws (tokens and log q for the same streams), teacher-forced
-- likelihoods, in-painting, WDCE steps, a checkpoint written from CUDA and
-- read on the CPU, the MDNS and MetaDNS loops (tp.train) and conditioned
-- REINFORCE (tp.reinforce).  Float tolerances: CUDA sums in other orders,
-- so 1e-4 on log-probabilities and relative 1e-3 on losses after training
-- steps.  Skipped without a CUDA device; 'make check-cuda-emu' runs it on
-- the CUDA emulator (tests/cudaemu) and a GPU machine runs it for real.
local tp = require "tempera"
local ffi = require "ffi"
local C = require("tempera.ffi").C
if C.tp_backend_available("cuda") == 0 then
  print("skipped: no CUDA device")
  return
end
tp.threads(1)

local lat = tp.lattice.square(3)
local T = 9
local function pair(extra)
  local o = { lattice = lat, states = 2, embed = 16, depth = 2, heads = 2, seed = 3, lr = 1e-2 }
  for k, v in pairs(extra or {}) do o[k] = v end
  o.backend = "cpu"
  local cpu = tp.nn.transformer(o)
  o.backend = "cuda"
  return cpu, tp.nn.transformer(o)
end
local function close(a, b, tol, what)
  assert(math.abs(a - b) <= tol, string.format("%s: cpu %.9g cuda %.9g (tol %g)", what, a, b, tol))
end

local cpu, gpu = pair()
assert(cpu.backend == "cpu" and gpu.backend == "cuda", gpu.backend)
local p1, p2 = cpu:get("params"), gpu:get("params")
for i = 0, cpu.num_params - 1 do assert(p1[i] == p2[i], "initial parameter " .. i) end

-- forward on partly masked rows
local rows = 5
local x = ffi.new("uint8_t[?]", rows * T)
local rng = tp.rng{ seed = 4, stream = 0 }
for i = 0, rows * T - 1 do x[i] = rng:below(3) end
local la, lb = cpu:forward(x, rows), gpu:forward(x, rows)
for i = 0, rows * T * 2 - 1 do close(la[i], lb[i], 1e-4, "forward logp " .. i) end

-- draws: the same streams give the same tokens and log q
local n = 16
local sa, qa = cpu:sample(n, { seed = 11, stream = 0, ema = false })
local sb, qb = gpu:sample(n, { seed = 11, stream = 0, ema = false })
for i = 0, n * T - 1 do assert(sa[i] == sb[i], "draw token " .. i) end
for r = 0, n - 1 do close(qa[r], qb[r], 1e-4, "draw log q " .. r) end
local ta = cpu:log_prob(sa, n, { seed = 12, stream = 0, ema = false })
local tb = gpu:log_prob(sa, n, { seed = 12, stream = 0, ema = false })
for r = 0, n - 1 do close(ta[r], tb[r], 1e-4, "teacher-forced log p " .. r) end

-- in-painting: the same completions of partly fixed rows
local part = ffi.new("uint8_t[?]", n * T)
for i = 0, n * T - 1 do part[i] = (i % 3 == 0) and sa[i] or 2 end
local ia, iqa = cpu:inpaint(part, n, { seed = 13, stream = 0, ema = false })
local ib, iqb = gpu:inpaint(part, n, { seed = 13, stream = 0, ema = false })
for i = 0, n * T - 1 do assert(ia[i] == ib[i], "in-painted token " .. i) end
for r = 0, n - 1 do close(iqa[r], iqb[r], 1e-4, "in-painting log q " .. r) end

-- WDCE steps track each other
local lr = {}
for b = 1, n do lr[b] = 0.1 * b end
for s = 1, 5 do
  local l1, e1 = cpu:wdce_step(sa, lr, n, { replicates = 4, seed = 1, stream = s * 64 })
  local l2, e2 = gpu:wdce_step(sa, lr, n, { replicates = 4, seed = 1, stream = s * 64 })
  close(l1, l2, 1e-3 * math.abs(l1), "WDCE loss, step " .. s)
  close(e1, e2, 1e-12, "WDCE NESS, step " .. s)
end
p1, p2 = cpu:get("params"), gpu:get("params")
for i = 0, cpu.num_params - 1 do close(p1[i], p2[i], 1e-4, "parameter after 5 steps " .. i) end

-- a checkpoint written from CUDA reads back on the CPU with the CUDA values
local path = "nn_cuda.ckpt"
gpu:save(path, { note = { 7 } })
local back, slots = tp.nn.load(path, { backend = "cpu" })
os.remove(path)
assert(back.backend == "cpu" and back:steps() == 5 and slots.note[1] == 7)
local p3 = back:get("params")
for i = 0, cpu.num_params - 1 do assert(p3[i] == p2[i], "checkpoint parameter " .. i) end

-- the training loops on CUDA: MDNS, then MetaDNS with a bias and replay
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local function loop(kind, net, extra)
  local o = { net = net, model = model, beta = 0.4, batch = 16, replicates = 2, resample_every = 2, steps = 6,
              lr = 1e-3, progress = false, seed = 5 }
  for k, v in pairs(extra) do o[k] = v end
  return tp.train[kind](o)
end
local ca, ga = pair({ depth = 1 })
local ra, rb = loop("mdns", ca, { cv = m }), loop("mdns", ga, { cv = m })
assert(#ra.history == 6 and #rb.history == 6)
for s = 1, 6 do
  close(ra.history[s].loss, rb.history[s].loss, 1e-3 * math.abs(ra.history[s].loss), "MDNS loss, step " .. s)
end
local function bias()
  return tp.bias.grid{ cv = m, points = 10, kernel = "delta", height = 1, bias_factor = 10, beta = 0.4 }
end
ca, ga = pair({ depth = 1 })
ra = loop("metadns", ca, { bias = bias(), replay = true })
rb = loop("metadns", ga, { bias = bias(), replay = true })
assert(ra.hills == rb.hills and rb.hills > 16, rb.hills)
for s = 1, 6 do
  close(ra.history[s].loss, rb.history[s].loss, 1e-3 * math.abs(ra.history[s].loss), "MetaDNS loss, step " .. s)
end

-- a warm start on CUDA: pretraining steps on given configurations, then
-- MetaDNS cycles with importance-weighted hills, against the CPU
local wx = ffi.new("uint8_t[?]", 32 * lat.n)
for r = 0, 31 do for i = 0, lat.n - 1 do wx[r * lat.n + i] = (r + i) % 3 == 0 and 1 or 0 end end
ca, ga = pair({ depth = 1 })
local pw = { x = wx, n = 32, steps = 4 }
ra = loop("metadns", ca, { bias = bias(), replay = true, pretrain = pw, deposit = "weighted" })
rb = loop("metadns", ga, { bias = bias(), replay = true, pretrain = pw, deposit = "weighted" })
assert(ra.hills == rb.hills and rb.hills > 0, rb.hills)
for s = 1, 6 do
  close(ra.history[s].loss, rb.history[s].loss, 1e-3 * math.abs(ra.history[s].loss), "warm-start loss, step " .. s)
end

-- conditioned REINFORCE on CUDA against the CPU
local conds = { { beta = 0.3, h = 0 }, { beta = 0.6, h = 0.5 } }
local models = {}
local function cmodel(c)
  models[c.h] = models[c.h] or tp.model.ising{ lattice = lat, J = 1, h = c.h }
  return models[c.h]
end
ca, ga = pair({ depth = 1, conditions = 2, ema = 0.9 })
ra = tp.reinforce{ net = ca, model = cmodel, conditions = conds, steps = 4, batch = 8, seed = 2 }
rb = tp.reinforce{ net = ga, model = cmodel, conditions = conds, steps = 4, batch = 8, seed = 2 }
assert(#rb.history == 4)
for s = 1, 4 do
  local a, b = ra.history[s], rb.history[s]
  for k, v in pairs(a) do
    if type(v) == "number" then close(v, b[k], 1e-3 * math.max(1, math.abs(v)), "REINFORCE " .. k .. ", step " .. s) end
  end
end
print("CUDA backend matches the CPU: forward, draws, teacher forcing, in-painting, WDCE, checkpoint, MDNS, "
  .. "MetaDNS, warm start, REINFORCE")
