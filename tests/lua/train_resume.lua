-- Checkpoint and resume: a MetaDNS run (replay buffer, a decaying-height
-- schedule) of 2N steps equals N steps, a checkpoint, and N more steps in a
-- new network and bias restored from it, bit for bit (parameters, Adam
-- moments, EMA, bias grid, losses, the text log).  Then bad input: unknown
-- options, MDNS/MetaDNS bias mix-ups, a bias on another lattice, a
-- checkpoint written with other settings, a missing checkpoint.
local tp = require "tempera"
local ffi = require "ffi"
tp.threads(1)

local function same(a, b, n)
  for i = 0, n - 1 do if a[i] ~= b[i] then return false end end
  return true
end

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
    steps = 24, lr = 1e-2, seed = 11, progress = false, replay = { size = 64, bins = 4, ratio = 0.5 },
    schedule = function(tr, cycle) tr.bias:set{ height = 1 / (1 + cycle) } end }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local na, ba = net(1), bias()
local A = tp.train.metadns(opts(na, ba, { log = "resume_a.log", hills = "resume_a.HILLS", colvar = "resume_a.COLVAR" }))
A:close()

local nb, bb = net(1), bias()
local B1 = tp.train.trainer(opts(nb, bb, { log = "resume_b.log", checkpoint = "resume_b.ckpt", checkpoint_every = 6 }))
B1:run(12)
B1:close()
assert(nb:steps() == 12)
-- a different initialisation and an empty bias: everything comes from the checkpoint
local nc, bc = net(99), bias()
local B2 = tp.train.metadns(opts(nc, bc, { log = "resume_b.log", checkpoint = "resume_b.ckpt", resume = true }))
B2:close()
assert(nc:steps() == 24 and B2.cycles == 8 and B2.hills == A.hills and B2.stream == A.stream)

for _, slab in ipairs { "params", "adam_m", "adam_v", "ema" } do
  local p, q = na:get(slab), nc:get(slab)
  assert(same(p, q, na.num_params), slab .. " differs after resume")
end
local va, vc = ba:values(), bc:values()
for i = 0, ba.size - 1 do assert(va[i] == vc[i], "bias differs at " .. i) end
assert(ba:info().height == bc:info().height)
-- the bias's counters travel with it (serialised in C with its parameters)
assert(ba:info().nhills == bc:info().nhills and ba:info().ncycles == bc:info().ncycles,
  string.format("bias counters after resume: %d hills / %d cycles, uninterrupted %d / %d", bc:info().nhills,
    bc:info().ncycles, ba:info().nhills, ba:info().ncycles))
for k = 1, 12 do
  local ha, hb = A.history[12 + k], B2.history[k]
  assert(ha.loss == hb.loss and ha.ness == hb.ness and ha.step == hb.step, "history differs at step " .. ha.step)
end
-- a resume that finds the run complete takes no step and reports the last
-- step's status (a run in pieces stopped after training, before its report)
B2:checkpoint("resume_c.ckpt")
local B3 = tp.train.metadns(opts(net(5), bias(), { checkpoint = "resume_c.ckpt", resume = true }))
assert(B3.resumed_step == 24 and #B3.history == 0)
assert(B3:status() == A:status(), B3:status() .. " vs " .. A:status())
local function slurp(p) local f = assert(io.open(p)); local s = f:read("*a"); f:close(); return s end
local la, lb = slurp("resume_a.log"), slurp("resume_b.log")
assert(la == lb, "logs differ:\n" .. la .. "\n---\n" .. lb)
-- a run killed after its checkpoint at step 12 had logged steps 13 and 14
-- and half of 15: the resumed log is cut back to the checkpoint's step and
-- then continues, one line per step, equal to the uninterrupted log
local ne = net(1)
local E1 = tp.train.trainer(opts(ne, bias(), { log = "resume_e.log", checkpoint = "resume_e.ckpt", checkpoint_every = 6,
  hills = "resume_e.HILLS", colvar = "resume_e.COLVAR" }))
E1:run(12)
E1:close()
local tail = la:match("\n(13 [^\n]*\n14 [^\n]*\n)")
assert(tail, "the uninterrupted log has steps 13 and 14")
local f = assert(io.open("resume_e.log", "ab"))
f:write(tail, "15 5 0.7")   -- a torn last line, no newline
f:close()
-- the HILLS and COLVAR files had the next cycle's rows (time 12) and a torn one
for _, name in ipairs { "HILLS", "COLVAR" } do
  local rows = slurp("resume_a." .. name):match("\n(12 .*)$")
  assert(rows, "the uninterrupted " .. name .. " has rows at step 12")
  f = assert(io.open("resume_e." .. name, "ab"))
  f:write(rows, "15 0.3")
  f:close()
end
tp.train.metadns(opts(net(99), bias(), { log = "resume_e.log", checkpoint = "resume_e.ckpt", resume = true,
  hills = "resume_e.HILLS", colvar = "resume_e.COLVAR" })):close()
local le = slurp("resume_e.log")
assert(le == la, "the resumed log is not one line per step:\n" .. le)
-- the resumed PLUMED files continue from the checkpoint: equal to the uninterrupted ones
for _, name in ipairs { "HILLS", "COLVAR" } do
  local a, e = slurp("resume_a." .. name), slurp("resume_e." .. name)
  assert(a == e, name .. " after a resume differs from the uninterrupted run:\n" .. e)
  os.remove("resume_a." .. name); os.remove("resume_e." .. name)
end
-- a step without resuming would differ (the test can fail)
local nd = net(1)
tp.train.metadns(opts(nd, bias(), { steps = 12 }))
tp.train.metadns(opts(nd, bias(), { steps = 24 }))
assert(not same(nd:get("params"), na:get("params"), na.num_params))

-- annealing warm start: beta of each cycle's batch ramps from 0.2 to 0.7 over 6 steps
local an = tp.train.mdns{ net = net(1), model = model, beta = beta, cv = m, batch = 8, replicates = 1,
  resample_every = 3, steps = 12, anneal = { beta = 0.2, steps = 6 }, progress = false }
local bs = {}
for k, h in ipairs(an.history) do bs[k] = h.beta end
assert(bs[1] == 0.2 and bs[3] == 0.2 and math.abs(bs[4] - 0.45) < 1e-15 and bs[7] == 0.7 and bs[12] == 0.7,
  table.concat(bs, " "))

-- errors point at this file
local function fails(pat, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pat)
  assert(err:find("train_resume.lua:%d+:") and err:find(pat, 1, true), err)
end
fails("unknown option 'hils'", tp.train.metadns, opts(net(1), bias(), { hils = 3 }))
fails("option 'hills' expects string, got number", tp.train.metadns, opts(net(1), bias(), { hills = 3 }))
fails("option 'bias' is required", tp.train.metadns, { net = net(1), model = model, beta = 1 })
fails("MDNS has no bias", tp.train.mdns, opts(net(1), bias()))
fails("option 'beta' is required", tp.train.mdns, { net = net(1), model = model })
local m4 = tp.cv.magnetization(tp.lattice.square(4))
local b4 = tp.bias.grid{ cv = m4, points = 17, sigma = 0.1, height = 1, beta = 1 }
fails("the bias was built on CV 'magnetization' of 16 sites but the network has 9", tp.train.metadns, opts(net(1), b4))
fails("replay needs a CV", tp.train.mdns, { net = net(1), model = model, beta = 1, replay = true })
fails("replay: unknown option 'bins_per_dim'", tp.train.metadns,
  opts(net(1), bias(), { replay = { bins_per_dim = 8 } }))
fails("was written with batch 16, replicates 2, resample_every 3, 9 sites; this run has 32, 2, 3, 9",
  tp.train.trainer, opts(net(1), bias(), { batch = 32, resume = "resume_b.ckpt" }))
fails("cannot resume", tp.train.trainer, opts(net(1), bias(), { resume = "no-such.ckpt" }))
fails("resume = true needs checkpoint = path", tp.train.trainer, opts(net(1), bias(), { resume = true }))
os.remove("resume_a.log"); os.remove("resume_b.log"); os.remove("resume_b.ckpt")

-- evaluation sizes: nothing to evaluate, or more samples than memory holds
local okz, ez = pcall(function() return A:evaluate{ n = 0 } end)
assert(not okz and tostring(ez):find("n (samples) must be >= 1, got 0", 1, true), tostring(ez))
local okb, eb = pcall(function() return A:evaluate{ n = 1e10 } end)
assert(not okb and tostring(eb):find("need 90.0 GB in memory", 1, true), tostring(eb))

-- identical runs write identical checkpoints, byte for byte (slots in name order)
for _, path in ipairs { "same_1.ckpt", "same_2.ckpt" } do
  local t = tp.train.trainer(opts(net(1), bias(), { checkpoint = path, checkpoint_every = 4 }))
  t:run(4)
  t:close()
end
assert(slurp("same_1.ckpt") == slurp("same_2.ckpt"), "identical runs wrote different checkpoints")

-- a checkpoint path in use by another process (its lock file held) is
-- refused: the two runs' checkpoints would replace each other
if os.execute("command -v flock >/dev/null 2>&1") == 0 then
  os.execute("flock busy.ckpt.lock sleep 3 >/dev/null 2>&1 &")
  os.execute("sleep 0.5")
  local okl, el = pcall(tp.train.trainer, opts(net(1), bias(), { checkpoint = "busy.ckpt" }))
  assert(not okl and tostring(el):find("checkpoint busy.ckpt is in use by another run", 1, true), tostring(el))
end
