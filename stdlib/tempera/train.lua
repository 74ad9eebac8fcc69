-- tempera.train: MDNS and MetaDNS training loops (man tempera-train(5)),
-- written as short loops over primitives a recipe can call itself:
--
--   local tr = tp.train.trainer{ net = net, model = model, beta = 0.6, bias = bias,
--                                batch = 128, replicates = 8, resample_every = 10,
--                                replay = { size = 1024, bins = 8, ratio = 0.5 } }
--   local fresh = tr:draw(tr.batch)          -- EMA model, current bias, exact logq
--   local old   = tr:score(tr:replay_draw(64), 64)   -- teacher forcing, same bias
--   tr:deposit(fresh); tr:replay_add(fresh)  -- B hills; CV-stratified buffer
--   for k = 1, tr.resample_every do tr:wdce_step(tp.sampler.concat(fresh, old)) end
--   tr:checkpoint("run.ckpt")
--
-- tp.train.metadns{...} runs tr:cycle() (exactly the loop above, see
-- Trainer:cycle) until 'steps' optimiser steps; tp.train.mdns{...} is the
-- same without a bias.  Every random number is drawn from Philox streams
-- (seed, tr.stream + k) with tr.stream advanced by what each primitive
-- uses, so a run is a pure function of its seed and a checkpoint (network,
-- Adam, EMA, bias, replay buffer, counters) resumes it bit for bit on the
-- CPU backend.
local F = require "tempera.ffi"
local util = require "tempera.util"
local log_open   -- defined below (the training log)
-- checkpoint lock files this process holds: PATH.lock -> descriptor box
-- (weak: a lock nobody refers to any more is released when collected)
local held_locks = setmetatable({}, { __mode = "v" })
local sampler = require "tempera.sampler"
local C, ffi = F.C, F.ffi

local M = {}
local Trainer = {}
Trainer.__index = Trainer

local u8_t, f64_t = util.sized("uint8_t"), util.sized("double")

-- first Philox stream of a trainer ("tr" << 40): apart from tp.nn's automatic
-- streams and the MC samplers' per-chain streams
local STREAM0 = 0x7472 * 2 ^ 32
local CKPT_KIND = 0x6d646e73   -- "mdns": checkpoint slot 'train' tag

local spec = {
  net = { type = "table", required = true, doc = "tp.nn.transformer network" },
  model = { type = "table", required = true, doc = "energy model" },
  beta = { type = "number", required = true, doc = "target inverse temperature" },
  bias = { type = "table", doc = "tp.bias.grid (MetaDNS); nil: MDNS" },
  cv = { type = "table", doc = "CV for coverage/replay (default: the bias's)" },
  batch = { type = "integer", default = 128, doc = "B samples per cycle" },
  replicates = { type = "integer", default = 8, doc = "R mask replicates per sample" },
  resample_every = { type = "integer", default = 10, doc = "K WDCE steps per drawn batch" },
  steps = { type = "integer", default = 1000, doc = "optimiser steps (run/metadns/mdns)",
    check = function(v) return v >= 0, "must be >= 0" end },
  replay = { type = "any", default = false, doc = "false, true or { size = 1024, bins = 8, ratio = 0.5 }" },
  anneal = { type = "table", doc = "{ beta = b0, steps = n }: beta ramps linearly from b0 over n steps" },
  deposit = { type = "string", default = "uniform", doc = "'uniform' (one hill of W/B per sample) or 'weighted'" },
  pretrain = { type = "table", doc = "{ x =, n =, steps = }: first fit the network to n given configurations" },
  finish = { type = "table", doc = "{ steps = n [, lr = ] }: n more steps on the unbiased target (MetaDNS; no hills)" },
  schedule = { type = "callable", doc = "fn(tr, cycle) before every cycle (hill height, ...)" },
  lr = { type = "number", default = 1e-4 }, betas = { type = "table", default = { 0.9, 0.999 } },
  eps = { type = "number", default = 1e-8 }, ema = { type = "number", default = 0.9999, doc = "EMA cap" },
  seed = { type = "integer", doc = "default: the run's seed" },
  log = { type = "string", doc = "text log, one line per step" },
  hills = { type = "string", doc = "PLUMED HILLS file of the deposited hills (MetaDNS; time in optimiser steps)" },
  colvar = { type = "string", doc = "PLUMED COLVAR file: each depositing sample's CV and V (MetaDNS)" },
  checkpoint = { type = "string", doc = "checkpoint path" },
  checkpoint_every = { type = "integer", default = 0, doc = "steps between checkpoints (0: only at the end)" },
  resume = { type = "any", default = false, doc = "true, a path, or \"auto\" (when the checkpoint exists)" },
  progress = { type = "boolean", default = true },
}

-- tp.train.trainer{...} -> trainer (no steps taken)
function M.trainer(opts)
  local o = util.options("tp.train.trainer", opts, spec)
  local fname = "tp.train.trainer"
  util.check_arg(o.batch >= 1 and o.replicates >= 1 and o.resample_every >= 1,
    "%s: batch, replicates and resample_every must be >= 1", fname)
  util.check_arg(o.beta > 0, "%s: beta must be > 0", fname)
  util.check_arg(o.deposit == "uniform" or o.deposit == "weighted", "%s: deposit must be 'uniform' or 'weighted', got '%s'",
    fname, o.deposit)
  local pre = o.pretrain
  if pre then
    util.check_arg(type(pre.x) == "cdata" and type(pre.n) == "number" and pre.n >= 1 and pre.n == math.floor(pre.n),
      "%s: pretrain = { x = uint8_t array of n configurations, n =, steps = }", fname)
    util.check_arg(type(pre.steps) == "number" and pre.steps >= 0 and pre.steps == math.floor(pre.steps),
      "%s: pretrain.steps must be a whole number >= 0", fname)
    util.check_arg(pre.sites == nil or pre.sites == o.net.sites, "%s: pretrain data has %s sites per configuration, the network %d",
      fname, tostring(pre.sites), o.net.sites)
    util.check(C.tp_tokens_check(fname .. ": pretrain", pre.x, pre.n * o.net.sites, o.net.states))
  end
  local fin = o.finish
  if fin then
    util.check_arg(o.bias, "%s: finish = { steps = n } needs a bias (MetaDNS): MDNS trains on the unbiased target", fname)
    fin = util.options(fname .. ": finish", fin, {
      steps = { type = "integer", required = true, check = function(v) return v >= 0, "must be >= 0" end },
      lr = { type = "number", check = function(v) return v > 0, "must be > 0" end },
    })
    fin.from = o.steps
  end
  local S = sampler.masked_diffusion(o.net, { model = o.model, beta = o.beta, bias = o.bias, cv = o.cv })
  local tr = setmetatable({
    net = o.net, model = o.model, beta = o.beta, bias = o.bias, cv = S.cv, sampler = S,
    batch = o.batch, replicates = o.replicates, resample_every = o.resample_every,
    steps = o.steps + (fin and fin.steps or 0), finish = fin,
    anneal = o.anneal, schedule = o.schedule, seed = o.seed or require("tempera.run").seed(),
    stream = STREAM0, cycles = 0, hills = 0, history = {}, checkpoint_path = o.checkpoint,
    checkpoint_every = o.checkpoint_every, show_progress = o.progress, deposit_mode = o.deposit, pretrain = pre,
    ranks = tonumber(C.tp_mpi_size()),
  }, Trainer)
  if o.checkpoint then
    -- one run per checkpoint path: a trainer of another process on it is
    -- refused (its checkpoints would replace this run's), via the lock file
    -- PATH.lock; within one process a new trainer takes the path over (a
    -- run resumed in pieces, a REPL session)
    local lp = o.checkpoint .. ".lock"
    local box = held_locks[lp]
    if not box then
      local fd = C.tp_lock_acquire(lp, "checkpoint " .. o.checkpoint)
      if fd < 0 then util.raise("%s: %s", fname, ffi.string(C.tp_last_error())) end
      box = ffi.gc(ffi.new("int32_t[1]", fd), function(p) C.tp_lock_release(p[0]) end)
      held_locks[lp] = box
    end
    tr._lock, tr._lock_path = box, lp
  end
  o.net:set_adam{ lr = o.lr, betas = o.betas, eps = o.eps, weight_decay = 0 }
  C.tp_net_set_ema_max(o.net._p, o.ema)
  if o.anneal then
    util.check_arg(type(o.anneal.beta) == "number" and type(o.anneal.steps) == "number" and o.anneal.steps >= 0,
      "%s: anneal = { beta = b0, steps = n }", fname)
  end
  -- coverage bins and the replay buffer: 8 bins per CV dimension over the CV box
  local rp = o.replay
  if rp == true then rp = {} end
  if rp then
    util.check_arg(type(rp) == "table", "%s: replay must be false, true or a table", fname)
    rp = util.options("tp.train.trainer: replay", rp, {
      size = { type = "integer", default = 1024 }, bins = { type = "integer", default = 8 },
      ratio = { type = "number", default = 0.5, check = function(v) return v >= 0 and v < 1, "must be in [0, 1)" end },
    })
    util.check_arg(S.cv, "%s: replay needs a CV (a bias or cv =)", fname)
  end
  if S.cv then
    local cv = S.cv
    local range = cv.range
    if o.bias then
      local i = o.bias:info()
      range = {}
      for k = 1, i.dim do range[k] = { i.lo[k], i.hi[k] } end
    end
    util.check_arg(range and #range == cv.dim, "%s: CV '%s' has no range: give one to tp.cv", fname, tostring(cv.name))
    local lo, hi = f64_t(cv.dim), f64_t(cv.dim)
    for k = 1, cv.dim do lo[k - 1], hi[k - 1] = range[k][1], range[k][2] end
    local bins = rp and rp.bins or 8
    tr._cov = { dim = cv.dim, lo = lo, hi = hi, bins = bins }   -- coverage cells (tp_cv_coverage)
    if rp then
      tr.replay = ffi.gc(util.check_ptr(C.tp_replay_init(o.net.sites, cv.dim, lo, hi, bins, rp.size)), C.tp_replay_free)
      tr.replay_ratio = rp.ratio
    end
  end
  if o.resume == "auto" then
    -- continue when the checkpoint exists (a run in pieces), else start
    util.check_arg(type(o.checkpoint) == "string", "%s: resume = \"auto\" needs checkpoint = path", fname)
    local f = io.open(o.checkpoint, "rb")
    if f then f:close() end
    o.resume = f ~= nil
  end
  if o.resume then
    local path = o.resume == true and o.checkpoint or o.resume
    util.check_arg(type(path) == "string", "%s: resume = true needs checkpoint = path", fname)
    tr:restore(path)
  elseif pre and tr.replay and pre.steps > 0 then
    -- the warm start's configurations seed the CV-stratified buffer (a
    -- resumed run restores the buffer from its checkpoint instead)
    util.check(C.tp_replay_add(tr.replay, pre.x, S.cv:eval(pre.x, pre.n), pre.n))
  end
  if o.hills or o.colvar then
    -- the batch's samples are independent draws, not walkers: one file each;
    -- time is the optimiser steps taken when the cycle deposited
    util.check_arg(o.bias, "%s: hills = and colvar = record a MetaDNS bias: give bias =", fname)
    local P = require "tempera.plumed"
    tr.plumed = P.writer{ bias = o.bias, hills = o.hills, colvar = o.colvar, cv = P.cv_labels(S.cv, o.bias.dim),
      time_unit = "step", energy_unit = P.energy_unit(o.model), append = o.resume and true or false }
    -- a resumed run continues the files from its checkpoint's step
    if o.resume then tr.plumed:cut(tr.resumed_step - 1) end
  end
  if o.log then
    tr.logfile = log_open(o.log, o.resume and tr.resumed_step or nil, string.format(
      "# tempera training log: %s, B %d, R %d, K %d, beta %.17g\nstep cycle beta loss ness log_z ness_lik coverage hills\n",
      o.bias and "MetaDNS" or "MDNS", o.batch, o.replicates, o.resample_every, o.beta))
  end
  return tr
end

-- The training log: lines are appended, every write checked, 64 at a time
-- and at each flush (before each checkpoint is written, so a checkpoint
-- never holds steps the log lacks).  A new log replaces any old
-- file with its header; a resumed one is first cut back to its header and
-- the complete lines of steps up to the checkpoint's step (a kill leaves
-- later or torn lines), so it has one line per step.
local Log = {}
Log.__index = Log
function Log:write(line)
  self.buf[#self.buf + 1] = line
  if #self.buf >= 64 then self:flush() end
end
function Log:flush()
  if #self.buf == 0 then return end
  local text = table.concat(self.buf)
  self.buf = {}
  util.append_file(self.path, text)
end
Log.close = Log.flush

log_open = function(path, resumed_step, header)
  local kept = {}
  if resumed_step then
    local text = util.read_file(path) or ""
    for line in text:gmatch("([^\n]*)\n") do   -- complete lines only
      local step = line:match("^(%d+) ")
      if line:sub(1, 1) == "#" or line:match("^step ") or (step and tonumber(step) <= resumed_step) then kept[#kept + 1] = line .. "\n" end
    end
  end
  local w = util.open_write(path)
  w:write(#kept > 0 and table.concat(kept) or header)
  w:close()
  return setmetatable({ path = path, buf = {} }, Log)
end

-- next n Philox streams
function Trainer:streams(n)
  local s = self.stream
  self.stream = s + n
  return s
end

-- beta at the current optimiser step (the anneal ramp, else the target)
function Trainer:beta_now()
  local a = self.anneal
  if not a or a.steps <= 0 then return self.beta end
  local t = self.net:steps() / a.steps
  if t >= 1 then return self.beta end
  return a.beta + (self.beta - a.beta) * t
end

-- whether optimiser step k (1, 2, ...) is a finish step (finish = { steps = }):
-- its target is the unbiased one, the bias stays as it is (for the PMF)
local function finish_step(tr, k)
  return tr.finish ~= nil and k > tr.finish.from
end

-- the bias step k trains towards: the bias, or false (none) in MDNS and
-- in the finish stage
local function bias_of_step(tr, k)
  return tr.bias ~= nil and not finish_step(tr, k) and tr.bias
end

-- true when the next step is in the finish stage
function Trainer:finishing() return finish_step(self, self.net:steps() + 1) end

-- the bias the next step trains towards (false: none)
function Trainer:target_bias() return bias_of_step(self, self.net:steps() + 1) end

-- the bias the last step was trained towards (false: none), for the bias
-- weights of an evaluation: none once a finish step has been taken
function Trainer:trained_bias() return bias_of_step(self, self.net:steps()) end

-- batch = tr:draw(n): n samples from the EMA model, log-weights under the
-- current (annealed) beta and the bias as it is now (none while finishing)
-- (under mpirun each rank draws its block of the rows and the batch is
-- gathered: the same batch on every rank as in one process)
function Trainer:draw(n)
  util.check_arg(type(n) == "number" and n >= 1, "trainer:draw: n must be >= 1")
  return self.sampler:sample_shared(n, { seed = self.seed, stream = self:streams(n), beta = self:beta_now(),
    bias = self:target_bias() })
end

-- batch = tr:score(x, n): teacher-forced batch (EMA model, same target as draw)
function Trainer:score(x, n)
  return self.sampler:score_shared(x, n, { seed = self.seed, stream = self:streams(n), beta = self:beta_now(),
    bias = self:target_bias() })
end

-- tr:deposit(batch): one cycle of batch.n hills at the batch's CVs; with
-- deposit = "weighted" the cycle's height is shared out by the batch's
-- weights under the biased target (log_rnd), so the hills follow the CV
-- marginal of exp(-beta (E + V)) even where the network misses it
function Trainer:deposit(b)
  util.check_arg(self.bias, "trainer:deposit: no bias (MDNS)")
  local logw = self.deposit_mode == "weighted" and b.log_rnd or nil
  if self.plumed then self.plumed:cycle(b.cv, b.n, logw, self.net:steps()) else self.bias:deposit(b.cv, b.n, logw) end
  self.hills = self.hills + b.n
end

-- loss = tr:pretrain_step(): one maximum-likelihood step (WDCE with equal
-- weights) on tr.batch configurations drawn uniformly from pretrain.x
function Trainer:pretrain_step()
  local pre, B, N = self.pretrain, self.batch, self.net.sites
  util.check_arg(pre, "trainer:pretrain_step: no pretrain data (give pretrain = { x =, n =, steps = })")
  self._pre_x = self._pre_x or u8_t(B * N)
  self._pre_w = self._pre_w or f64_t(B)
  util.check(C.tp_rng_pick_rows(self._pre_x, pre.x, pre.n, N, B, self.seed, self:streams(1)))
  return self:_wdce(self._pre_x, self._pre_w, B)
end

-- One WDCE step on B rows: clip, Adam, EMA.  Under mpirun (data-parallel)
-- each rank takes the gradient of its block of rows (the whole batch's
-- weights), the gradients and losses are summed over the ranks in rank
-- order, and every rank takes the same optimiser step.
function Trainer:_wdce(x, log_rnd, B)
  local o = { replicates = self.replicates, seed = self.seed, stream = self:streams(B * self.replicates) }
  if self.ranks == 1 then return self.net:wdce_step(x, log_rnd, B, o) end
  local mpi = require "tempera.mpi"
  local first, count = mpi.split(B)
  o.rows = { first, count }
  local loss, ness = self.net:wdce_grad(x, log_rnd, B, o)
  self.net:sum_grads()
  loss = mpi.allreduce(loss)
  self.net:update()
  return loss, ness
end

function Trainer:replay_count()
  return self.replay and tonumber(C.tp_replay_count(self.replay)) or 0
end

-- tr:replay_add(batch): add the batch's configurations to the buffer
function Trainer:replay_add(b)
  util.check_arg(self.replay, "trainer:replay_add: no replay buffer (give replay =)")
  util.check(C.tp_replay_add(self.replay, b.x, b.cv, b.n))
end

-- x = tr:replay_draw(n): n configurations from the buffer (uint8_t[n*sites])
function Trainer:replay_draw(n)
  util.check_arg(self.replay, "trainer:replay_draw: no replay buffer (give replay =)")
  local x = u8_t(n * self.net.sites)
  util.check(C.tp_replay_draw(self.replay, x, nil, n, self.seed, self:streams(1)))
  return x
end

-- loss, ness = tr:wdce_step(batch [, log_rnd]): one WDCE step (fresh masks),
-- Adam and EMA; log_rnd defaults to the batch's (a loss-weighting hook)
function Trainer:wdce_step(b, log_rnd)
  return self:_wdce(b.x, log_rnd or b.log_rnd, b.n)
end

-- diagnostics of a freshly drawn batch: log Z-hat (unbiased target), NESS of
-- the likelihood and bias weights, fraction of CV bins visited
function Trainer:diagnostics(b)
  local A = require "tempera.analysis"
  local d = { beta = b.beta }
  local wl = A.weights(b.log_rw, b.n)
  d.log_z, d.ness_lik = wl.log_z, wl.ness
  d.ness_bias = b.v and A.weights(b.logw_bias, b.n).ness or 1
  local cv = self._cov
  if cv and b.cv then
    local out = f64_t(1)
    util.check(C.tp_cv_coverage(out, b.cv, b.n, cv.dim, cv.lo, cv.hi, cv.bins))
    d.coverage = out[0]
  end
  return d
end

-- one log line / history entry per optimiser step
function Trainer:record(loss, ness, d)
  local h = { step = self.net:steps(), cycle = self.cycles, beta = d.beta or self:beta_now(), loss = loss, ness = ness,
    log_z = d.log_z, ness_lik = d.ness_lik, coverage = d.coverage or 0, hills = self.hills }
  self.history[#self.history + 1] = h
  if self.logfile then
    self.logfile:write(string.format("%d %d %.17g %.17g %.17g %.17g %.17g %.17g %d\n", h.step, h.cycle, h.beta,
      h.loss, h.ness, h.log_z, h.ness_lik, h.coverage, h.hills))
  end
  return h
end

-- The built-in outer iteration (MetaDNS): draw under the current bias,
-- replayed samples scored under the same bias snapshot, then deposit the
-- fresh samples' hills and add them to the buffer, then K WDCE steps on the
-- mixed batch.  With replay, ratio*B of the B rows come from the buffer
-- (once it holds anything) and only the fresh rows deposit hills.
function Trainer:cycle()
  if self.schedule then self.schedule(self, self.cycles) end
  if self.pretrain and self.net:steps() < self.pretrain.steps then
    -- warm start: K maximum-likelihood steps on the given configurations
    -- (no draws, no hills); counted as training steps
    local d = { beta = self:beta_now(), log_z = 0 / 0, ness_lik = 0 / 0, coverage = 0 / 0 }
    local loss
    for _ = 1, self.resample_every do
      loss = self:pretrain_step()
      self:record(loss, 1, d)
    end
    self.cycles = self.cycles + 1
    return loss, 1, d
  end
  local fin = self:finishing()
  if fin and self.finish.lr then self.net:set_adam{ lr = self.finish.lr } end
  local B = self.batch
  local nrep = 0
  if self.replay and self:replay_count() > 0 then nrep = math.floor(self.replay_ratio * B + 0.5) end
  local fresh = self:draw(B - nrep)
  local batch = fresh
  if nrep > 0 then batch = sampler.concat(fresh, self:score(self:replay_draw(nrep), nrep)) end
  if self.bias and not fin then self:deposit(fresh) end
  if self.replay then self:replay_add(fresh) end
  local d = self:diagnostics(fresh)
  local loss, ness
  for _ = 1, self.resample_every do
    loss, ness = self:wdce_step(batch)
    self:record(loss, ness, d)
  end
  self.cycles = self.cycles + 1
  return loss, ness, d
end

-- tr:run([steps]): cycles until 'steps' optimiser steps, checkpointing every
-- checkpoint_every steps (at the end of the cycle that reaches it) and at the end
function Trainer:run(steps)
  steps = steps or self.steps
  util.check_arg(type(steps) == "number" and steps >= 0 and steps == math.floor(steps),
    "trainer:run: steps must be a whole number >= 0 (the step to train up to), got %s", tostring(steps))
  local p = self.show_progress and require("tempera.progress"){ label = "training steps", total = steps } or nil
  local t0, s0 = C.tp_clock(), self.net:steps()
  while self.net:steps() < steps do
    local before = self.net:steps()
    self:cycle()
    local now = self.net:steps()
    local ce = self.checkpoint_every
    if self.checkpoint_path and ce > 0 and math.floor(now / ce) > math.floor(before / ce) then
      self:checkpoint(self.checkpoint_path)
    end
    if p then p:update(math.min(now, steps)) else require("tempera").check_interrupt() end
  end
  if p then p:finish() end
  -- wall time of the training steps (draws, hills and WDCE steps; no checkpoint at the end)
  self.wall_s = (self.wall_s or 0) + (C.tp_clock() - t0)
  self.wall_steps = (self.wall_steps or 0) + (self.net:steps() - s0)
  if self.checkpoint_path then self:checkpoint(self.checkpoint_path) end
  if self.logfile then self.logfile:flush() end
  if self.plumed then self.plumed:flush() end
  return self
end

-- the bias's whole state as doubles, serialised by C (tp_bias_get_state)
local function bias_state(b)
  local a = f64_t(tonumber(C.tp_bias_state_size(b.c)))
  util.check(C.tp_bias_get_state(b.c, a, ffi.sizeof(a) / 8))
  return a
end

-- tr:checkpoint(path): network state plus slots 'train' (counters), 'bias', 'replay'
function Trainer:checkpoint(path)
  util.check_arg(type(path) == "string", "trainer:checkpoint: path must be a string")
  local slots = { train = { CKPT_KIND, 1, self.stream, self.cycles, self.hills, self.seed,
    self.batch, self.replicates, self.resample_every, self.net.sites } }
  if self.bias then slots.bias = bias_state(self.bias) end
  local h = self.history[#self.history] or self.resumed_last
  if h then   -- the last step's record: tr:status() after a resume that takes no step
    slots.last = { h.step, h.cycle, h.beta, h.loss, h.ness, h.log_z or 0 / 0, h.ness_lik or 0 / 0, h.coverage, h.hills }
  end
  if self.replay then
    local n = tonumber(C.tp_replay_state_size(self.replay))
    local a = f64_t(n)
    util.check(C.tp_replay_get_state(self.replay, a, n))
    slots.replay = a
  end
  if self.logfile then self.logfile:flush() end   -- first: the log holds every step the checkpoint holds
  if self.plumed then self.plumed:flush() end     -- and the PLUMED files every hill
  self.net:save(path, slots)
end

-- tr:restore(path): the state written by tr:checkpoint (same settings required)
function Trainer:restore(path)
  local ck = C.tp_ckpt_load(path)
  if ck == nil then util.raise("trainer: cannot resume: %s", ffi.string(C.tp_last_error())) end
  ck = ffi.gc(ck, C.tp_ckpt_free)
  local function slot(name)
    local n = tonumber(C.tp_ckpt_slot_size(ck, name))
    if n < 0 then return nil end
    local a = f64_t(math.max(n, 1))
    util.check(C.tp_ckpt_get_slot(ck, name, a, n))
    return a, n
  end
  local t, n = slot("train")
  if not t or n < 10 or t[0] ~= CKPT_KIND then util.raise("trainer: %s is not a training checkpoint", path) end
  if t[6] ~= self.batch or t[7] ~= self.replicates or t[8] ~= self.resample_every or t[9] ~= self.net.sites then
    util.raise("trainer: %s was written with batch %d, replicates %d, resample_every %d, %d sites; this run has %d, %d, %d, %d",
      path, t[6], t[7], t[8], t[9], self.batch, self.replicates, self.resample_every, self.net.sites)
  end
  util.check(C.tp_ckpt_restore(ck, self.net._p))
  self.stream, self.cycles, self.hills, self.seed = t[2], t[3], t[4], t[5]
  local b, nb = slot("bias")
  if (b ~= nil) ~= (self.bias ~= nil) then
    util.raise("trainer: %s %s a bias but this run %s", path, b and "has" or "has no", self.bias and "has one" or "has none")
  end
  if b then
    local dim = self.bias.dim
    if nb == 3 + dim + self.bias.size and b[0] ~= 1651073395 then
      -- a checkpoint from before the bias was serialised in C: height,
      -- bias_factor, kT, sigma, values
      local sg = {}
      for k = 1, dim do sg[k] = b[2 + k] end
      self.bias:set{ height = b[0], bias_factor = b[1], kT = b[2], sigma = sg }
      ffi.copy(self.bias:values(), b + 3 + dim, self.bias.size * 8)
    else
      local st = C.tp_bias_set_state(self.bias.c, b, nb)
      if st ~= 0 then util.raise("trainer: the bias in %s: %s", path, ffi.string(C.tp_last_error())) end
    end
  end
  local r, nr = slot("replay")
  if (r ~= nil) ~= (self.replay ~= nil) then
    util.raise("trainer: replay buffer in %s and in this run do not match", path)
  end
  if r then util.check(C.tp_replay_set_state(self.replay, r, nr)) end
  local l, nl = slot("last")
  if l and nl == 9 then
    self.resumed_last = { step = l[0], cycle = l[1], beta = l[2], loss = l[3], ness = l[4], log_z = l[5],
      ness_lik = l[6], coverage = l[7], hills = l[8] }
  end
  self.resumed_step = self.net:steps()
  return self
end

function Trainer:close()
  if self.logfile then self.logfile:close(); self.logfile = nil end
  if self.plumed then self.plumed:flush() end
  if self._lock then   -- the checkpoint path is free for the next run
    local p = self._lock
    self._lock = nil
    if held_locks[self._lock_path] == p then
      held_locks[self._lock_path] = nil
      ffi.gc(p, nil)
      C.tp_lock_release(p[0])
    end
  end
end

-- tr:status(): "after N steps: loss, batch NESS, CV coverage, hills" of the last recorded step
function Trainer:status()
  local h = self.history[#self.history] or self.resumed_last
  if not h then return string.format("after %d steps (no step recorded)", self.net:steps()) end
  return string.format("after %d steps: loss %.4f, batch NESS %.3f, CV coverage %.3f, %d hills", h.step, h.loss,
    h.ness, h.coverage, self.hills)
end

-- ---- evaluation: drawing the samples that tp.evaluate measures --------------

-- res = tr:evaluate{ n = 1024, chunk = 256, reference = tp.exact(...) result, L = side (Ising/Potts corr),
--                    dump = path }: draws n samples from the EMA model (target beta,
-- unbiased log-weights; bias weights from the current bias, none after a
-- finish stage) and measures them with tp.evaluate.samples (likelihood
-- weights): its result (n, mag, mag_se, corr1, corr1_se, ness_lik,
-- ness_bias, log_z, js, pmf_rmse_bias, pmf_rmse_samples, pmf_samples,
-- p_plus, samples) plus s_step (wall seconds per training step) and dump.
function Trainer:evaluate(o)
  o = util.options("trainer:evaluate", o, {
    n = { type = "integer", default = 1024 }, chunk = { type = "integer", default = 256 },
    reference = { type = "table" }, L = { type = "integer" }, dump = { type = "string" },
    seed = { type = "integer" }, stream = { type = "number" },
    bootstrap = { type = "integer", default = 200, doc = "bootstrap replicates for mag_se, corr1_se (0: none)" },
    observables = { type = "table", doc = "tp.evaluate.samples observables: { 'energy', 'cv', name = fn }" },
  })
  util.check_arg(o.n >= 1, "trainer:evaluate: n (samples) must be >= 1, got %d", o.n)
  util.check_arg(o.chunk >= 1, "trainer:evaluate: chunk must be >= 1, got %d", o.chunk)
  util.check_arg(o.n * self.net.sites <= 2 ^ 33,
    "trainer:evaluate: %.0f samples of %d sites need %.1f GB in memory; evaluate fewer", o.n, self.net.sites,
    o.n * self.net.sites / 1e9)
  local cv, bias, beta = self.cv, self.bias, self.beta
  -- the bias the network was last trained towards gives the bias weights
  -- (none after a finish stage: logw_bias 0, no NESS_V)
  local tb = self:trained_bias()
  local seed = o.seed or self.seed
  local stream = o.stream or (STREAM0 + 2 ^ 44)   -- apart from training streams
  -- collect the batches (n samples) with their weights
  local parts, done = {}, 0
  local p = self.show_progress and o.n > o.chunk and require("tempera.progress"){ label = "evaluation samples",
    total = o.n } or nil
  while done < o.n do
    local k = math.min(o.chunk, o.n - done)
    parts[#parts + 1] = self.sampler:sample(k, { seed = seed, stream = stream + done, beta = beta, bias = tb })
    done = done + k
    if p then p:update(done) end
  end
  if p then p:finish() end
  local all = parts[1]
  for i = 2, #parts do all = sampler.concat(all, parts[i]) end
  local n = all.n
  -- the measurements: tp.evaluate (likelihood weights; bias weights from
  -- the bias the network was trained towards)
  local res = require("tempera.evaluate").samples(all, { model = self.model, beta = beta, cv = cv,
    weights = "likelihood", reference = o.reference, L = o.L, bias = bias, bootstrap = o.bootstrap, seed = seed,
    biased = tb and true or false, observables = o.observables })
  if self.wall_steps and self.wall_steps > 0 then res.s_step = self.wall_s / self.wall_steps end
  if o.dump then res.dump = require("tempera.evaluate").write_dump(o.dump, all, self.model) end
  res.samples = all
  return res
end

-- ---- warm start from classical WT-MetaD --------------------------------------

-- w = tp.train.warm_start{ model =, cv =, bias =, beta =, chains = 128,
--   cycles = 3000, pace = 64, from = cycles/3, every = 10, steps = 600,
--   seed =, progress = true }: runs WT-MetaD MCMC (tp.mc.metad) building
-- 'bias', keeps the walkers' configurations from cycle 'from' on every
-- 'every' cycles, and returns the trainer options of a warm start:
-- { bias = bias, pretrain = { x =, n =, steps =, sites = }, deposit =
-- "weighted" } plus n (configurations kept), seconds and the tp.mc.metad
-- run as md.  Merge them into tp.train.metadns's options.
function M.warm_start(opts)
  local o = util.options("tp.train.warm_start", opts, {
    model = { type = "table", required = true }, cv = { type = "table", required = true },
    bias = { type = "table", required = true }, beta = { type = "number", required = true },
    chains = { type = "integer", default = 128 }, cycles = { type = "integer", default = 3000 },
    pace = { type = "integer", default = 64 }, from = { type = "integer" },
    every = { type = "integer", default = 10 }, steps = { type = "integer", default = 600 },
    seed = { type = "integer" }, progress = { type = "boolean", default = true },
    label = { type = "string", default = "warm start WT-MetaD" },
  })
  local from = o.from or math.floor(o.cycles / 3)
  util.check_arg(o.cycles >= 1 and from <= o.cycles and o.every >= 1,
    "tp.train.warm_start: needs cycles >= 1, from <= cycles and every >= 1")
  local t0 = C.tp_clock()
  local md = require("tempera.mc").metad{ model = o.model, cv = o.cv, bias = o.bias, beta = o.beta, chains = o.chains,
    pace = o.pace, cycles = o.cycles, seed = o.seed, harvest = { from = from, every = o.every },
    progress = o.progress, label = o.label }
  local data = md:harvested()
  util.check_arg(data.n > 0, "tp.train.warm_start: no configuration kept (from %d, every %d, %d cycles)",
    from, o.every, o.cycles)
  return { bias = o.bias, deposit = "weighted", pretrain = { x = data.x, n = data.n, steps = o.steps, sites = data.sites },
    n = data.n, seconds = C.tp_clock() - t0, md = md }
end

-- ---- the built-in loops -------------------------------------------------------

-- tp.train.metadns{ trainer options } -> trainer after 'steps' steps
function M.metadns(opts)
  util.check_arg(type(opts) == "table" and opts.bias ~= nil, "tp.train.metadns: option 'bias' is required (MDNS: tp.train.mdns)")
  local tr = M.trainer(opts)
  tr:run()
  return tr
end

-- tp.train.mdns{ trainer options without bias } -> trainer
function M.mdns(opts)
  util.check_arg(type(opts) == "table", "tp.train.mdns: expected a table of options")
  util.check_arg(opts.bias == nil, "tp.train.mdns: MDNS has no bias (MetaDNS: tp.train.metadns)")
  local tr = M.trainer(opts)
  tr:run()
  return tr
end

Trainer.__tostring = function(tr)
  return string.format("tp.train trainer (%s, step %d, cycle %d, B %d, R %d, K %d)", tr.bias and "MetaDNS" or "MDNS",
    tr.net:steps(), tr.cycles, tr.batch, tr.replicates, tr.resample_every)
end

util.doc(M, [[
tp.train -- MDNS / MetaDNS training.  man tempera-train; the method: tempera-methods.
  tp.train.mdns{ net =, model =, beta =, batch = 128, replicates = 8, resample_every = 10,
                 steps =, anneal = { beta =, steps = }, log =, checkpoint =,
                 checkpoint_every =, resume = } -> trainer
  tp.train.metadns{ ... as mdns, bias =, replay = { size = 1024, bins = 8, ratio = 0.5 },
                    schedule = fn(tr, cycle), deposit = "uniform" | "weighted",
                    pretrain = { x =, n =, steps = },
                    finish = { steps = n, lr = } } -> trainer
    (finish: n more steps on the unbiased target, bias kept, no hills)
  tp.train.warm_start{ model =, cv =, bias =, beta =, cycles =, ... } -> options of a
                    warm start from classical WT-MetaD (bias, pretrain, deposit)
  tp.train.trainer{...}: primitives tr:draw(n), tr:score(x, n), tr:deposit(b),
    tr:replay_add(b), tr:replay_draw(n), tr:wdce_step(b), tr:diagnostics(b),
    tr:record(loss, ness, d), tr:cycle(), tr:run(steps), tr:checkpoint(path),
    tr:restore(path), tr:evaluate{ n =, reference =, L =, dump =, observables = }
  measuring (tr:evaluate's result, references, the summary table): help(tp.evaluate)]])
util.doc(M.trainer, "tp.train.trainer{...} -> trainer with the loop primitives (help(tp.train))")
util.doc(M.warm_start, [[
tp.train.warm_start{ model =, cv =, bias =, beta =, chains = 128, cycles = 3000, pace = 64,
                     from = cycles/3, every = 10, steps = 600 } -> w
  classical WT-MetaD building bias; w.bias, w.pretrain, w.deposit are
  tp.train.metadns options (the walkers' configurations as pretraining
  data, importance-weighted hills); w.n, w.seconds, w.md]])
util.doc(M.mdns, "tp.train.mdns{...}: MDNS; see help(tp.train)")
util.doc(M.metadns, "tp.train.metadns{...}: MetaDNS; see help(tp.train)")

-- the other training loop and the exact correction live in their own
-- modules, and measuring in tp.evaluate; reachable from here too
M.reinforce = require "tempera.reinforce"
M.nmh = require "tempera.nmh"
M.mc_reference = require("tempera.evaluate").mc_reference
M.summary_table = require("tempera.evaluate").summary_table

return M
