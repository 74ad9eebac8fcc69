-- The finish stage of MetaDNS (tp.train.metadns{ finish = { steps =, lr = } }):
--   * after 'steps' biased steps the trainer takes finish.steps more on the
--     unbiased target: draws carry no bias value (log_rnd without V), no
--     hill is deposited, the bias grid stays as it was, and the learning
--     rate is finish.lr;
--   * the same run in pieces (a checkpoint inside the finish stage, a new
--     network and bias restored from it) equals the run in one go, bit for
--     bit;
--   * evaluation after the finish reports no bias weights (logw_bias 0, no
--     NESS_V); before it, the bias weights as usual;
--   * bad options fail at this file's line.
local tp = require "tempera"
local ffi = require "ffi"
tp.threads(1)

local beta = 0.7
local lat = tp.lattice.square(3)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local function net(seed)
  return tp.nn.transformer{ lattice = lat, states = 2, embed = 8, depth = 1, heads = 2, seed = seed, backend = "cpu" }
end
local function bias()
  return tp.bias.grid{ cv = m, points = 21, sigma = 0.1, height = 1, bias_factor = 10, beta = beta }
end
local function opts(n, b, extra)
  local o = { net = n, model = model, beta = beta, bias = b, batch = 16, replicates = 2, resample_every = 3,
    steps = 12, finish = { steps = 12, lr = 5e-3 }, lr = 1e-2, seed = 11, progress = false,
    replay = { size = 64, bins = 4, ratio = 0.5 } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end
local function same(a, b, n)
  for i = 0, n - 1 do if a[i] ~= b[i] then return false end end
  return true
end

-- in one go
local na, ba = net(1), bias()
local A = tp.train.metadns(opts(na, ba))
assert(na:steps() == 24 and A.steps == 24, "finish: " .. na:steps() .. " steps")
assert(math.abs(na:adam().lr - 5e-3) < 1e-9, "finish lr " .. na:adam().lr)

-- step by step: the biased stage, then the finish
local nb, bb = net(1), bias()
local B = tp.train.trainer(opts(nb, bb))
B:run(12)
assert(B:finishing() and B:target_bias() == false and B:trained_bias() == bb and math.abs(nb:adam().lr - 1e-2) < 1e-9)
local v12 = ffi.new("double[?]", bb.size)
ffi.copy(v12, bb:values(), bb.size * 8)
local h12 = bb:info().nhills
assert(B.hills == A.hills and h12 == ba:info().nhills, "hills deposited in the finish stage")
local rb = B:evaluate{ n = 32, bootstrap = 0 }
assert(type(rb.ness_bias) == "number", "evaluation before the finish has bias weights")
local d = B:draw(4)
assert(d.v == nil, "a finish-stage draw carries bias values")
for i = 0, d.n - 1 do
  assert(d.logw_bias[i] == 0 and d.log_rnd[i] == -beta * d.energy[i] - d.logq[i] - d.log_const, "finish log_rnd")
end
local nc, bc = net(1), bias()
local Cc = tp.train.trainer(opts(nc, bc, { checkpoint = "finish.ckpt", checkpoint_every = 6 }))
Cc:run(18)
Cc:close()
assert(bc:info().nhills == h12 and same(bc:values(), v12, bc.size), "the bias changed in the finish stage")
-- a different initialisation and an empty bias: everything from the checkpoint
local nr, br = net(5), bias()
local R = tp.train.metadns(opts(nr, br, { checkpoint = "finish.ckpt", resume = true }))
assert(nr:steps() == 24 and R.hills == A.hills and math.abs(nr:adam().lr - 5e-3) < 1e-9)
for _, slab in ipairs { "params", "adam_m", "adam_v", "ema" } do
  assert(same(na:get(slab), nr:get(slab), na.num_params), slab .. " differs after a resume in the finish stage")
end
assert(same(ba:values(), br:values(), ba.size), "bias differs after resume")

local ra = A:evaluate{ n = 32, bootstrap = 0, dump = "finish.tpd" }
assert(ra.ness_bias == nil, "evaluation after the finish reports bias weights")
local t = tp.dump.read("finish.tpd"):load{ "logw_bias" }
for i = 0, t.n - 1 do assert(t.logw_bias[i] == 0, "dumped logw_bias after the finish") end

local function fails(pat, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pat)
  assert(err:find("train_finish.lua:%d+:") and err:find(pat, 1, true), err)
end
fails("finish = { steps = n } needs a bias (MetaDNS)", tp.train.trainer, opts(net(1), nil, { replay = false }))
fails("finish: option 'steps'", tp.train.trainer, opts(net(1), bias(), { finish = { lr = 1e-3 } }))
fails("must be >= 0", tp.train.trainer, opts(net(1), bias(), { finish = { steps = -1 } }))
fails("must be > 0", tp.train.trainer, opts(net(1), bias(), { finish = { steps = 3, lr = 0 } }))
fails("unknown option 'step'", tp.train.trainer, opts(net(1), bias(), { finish = { step = 3 } }))
