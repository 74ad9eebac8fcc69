-- tempera.nn: the lattice transformer (man tempera-nn(5)) and its training
-- state (kernels/net.h, runtime/checkpoint.h).  Thin: validate, marshal,
-- call C, convert.  Arrays cross as FFI cdata (uint8_t tokens, float
-- log-probabilities, double weights); Lua tables are accepted and copied.
--
--   local net = tp.nn.transformer{ lattice_shape = {8, 8}, states = 2,
--                                  embed = 64, depth = 4, heads = 4 }
--   local x, logq = net:sample(128)             -- EMA copy by default
--   local loss, ness = net:wdce_step(x, log_rnd, 128, { replicates = 8 })
--   net:save("run.ckpt", { bias = grid })        -- slots: tables/arrays of doubles
--   local net2, slots = tp.nn.load("run.ckpt")
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}
local Net = {}
Net.__index = Net

local u8_t, f32_t, f64_t = util.sized("uint8_t"), util.sized("float"), util.sized("double")

-- next Philox stream block for calls that do not name one: distinct calls
-- draw distinct masks/orders; recipes pass seed/stream for reproducibility
local auto_stream = 0x6e6e000000

-- Fractional coordinates (sites, axes) as a float array, from one of
-- lattice_shape = {L1, ..}, coords = {{u1, ..}, ..} or lattice = <tp lattice>.
local function site_coords(o)
  local given = (o.lattice_shape and 1 or 0) + (o.coords and 1 or 0) + (o.lattice and 1 or 0)
  if given ~= 1 then util.raise("tp.nn.transformer: give exactly one of lattice_shape, coords, lattice") end
  if o.lattice_shape then
    local shp = o.lattice_shape
    util.check_arg(type(shp) == "table" and #shp >= 1 and #shp <= 3,
      "tp.nn.transformer: lattice_shape must be a list of 1 to 3 periods")
    local A, T = #shp, 1
    for a = 1, A do
      util.check_arg(type(shp[a]) == "number" and shp[a] >= 1 and shp[a] == math.floor(shp[a]),
        "tp.nn.transformer: lattice_shape[%d] must be a positive integer", a)
      T = T * shp[a]
    end
    local u = f32_t(T * A)
    -- row-major sites, last axis fastest (site = ((i1 * L2) + i2) * L3 + i3)
    for s = 0, T - 1 do
      local rem = s
      for a = A, 1, -1 do
        u[s * A + a - 1] = (rem % shp[a]) / shp[a]
        rem = math.floor(rem / shp[a])
      end
    end
    return u, T, A
  end
  if o.coords then
    local cs = o.coords
    util.check_arg(type(cs) == "table" and #cs >= 1 and type(cs[1]) == "table",
      "tp.nn.transformer: coords must be a list of per-site coordinate lists")
    local T, A = #cs, #cs[1]
    util.check_arg(A >= 1 and A <= 3, "tp.nn.transformer: coords need 1 to 3 components per site")
    local u = f32_t(T * A)
    for s = 1, T do
      util.check_arg(type(cs[s]) == "table" and #cs[s] == A, "tp.nn.transformer: coords[%d] must have %d numbers", s, A)
      for a = 1, A do u[(s - 1) * A + a - 1] = cs[s][a] end
    end
    return u, T, A
  end
  local lat = o.lattice
  local p = lat
  if type(lat) == "table" then p = lat.ptr or lat.cdata or lat.c or lat._c or lat.handle end
  if type(p) ~= "cdata" then util.raise("tp.nn.transformer: lattice must be a tempera lattice") end
  local T, A = tonumber(p.n), tonumber(p.dim)
  local u = f32_t(T * A)
  for s = 0, T - 1 do
    for a = 0, A - 1 do u[s * A + a] = p.frac[s * 3 + a] end
  end
  return u, T, A
end

-- tokens argument -> uint8 array of n*T entries (copied from a table)
local function tokens_arg(fname, x, count)
  if type(x) == "cdata" then return x end
  if type(x) == "table" then
    util.check_arg(#x >= count, "%s: expected %d tokens, got %d", fname, count, #x)
    local a = u8_t(count)
    for i = 1, count do a[i - 1] = x[i] end
    return a
  end
  util.raise("%s: tokens must be a uint8_t array or a table", fname)
end

local function doubles_arg(fname, x, count, what)
  if type(x) == "cdata" then return x end
  if type(x) == "table" then
    util.check_arg(#x >= count, "%s: expected %d %s, got %d", fname, count, what, #x)
    local a = f64_t(count)
    for i = 1, count do a[i - 1] = x[i] end
    return a
  end
  util.raise("%s: %s must be a double array or a table", fname, what)
end

local function wrap(p, extra)
  local cfg = ffi.new("tp_tf_config")
  C.tp_net_get_config(p, cfg)
  local self = setmetatable({
    _p = p, states = cfg.states, sites = cfg.sites, embed = cfg.embed, depth = cfg.depth,
    heads = cfg.heads, axes = cfg.axes, layerscale = cfg.layerscale ~= 0, conditions = cfg.conds,
    num_params = tonumber(C.tp_net_num_params(p)), backend = ffi.string(C.tp_net_backend_name(p)),
    _loss = f64_t(2), _cfg = cfg,
  }, Net)
  for k, v in pairs(extra or {}) do self[k] = v end
  return self
end

local spec = {
  lattice_shape = { type = "table", doc = "periods {L1, ..} of a 1-3 dimensional periodic box" },
  coords = { type = "table", doc = "fractional site coordinates {{u1, ..}, ..}, period 1 (FCC)" },
  lattice = { type = "any", doc = "a tempera lattice (uses its fractional coordinates)" },
  states = { type = "integer", required = true, check = function(v) return v >= 2 and v <= 255, "must be in 2..255" end },
  embed = { type = "integer", default = 64 },
  depth = { type = "integer", default = 4 },
  heads = { type = "integer", default = 4 },
  layerscale = { type = "any", default = false, doc = "false, or the initial LayerScale value (true = 1e-1)" },
  seed = { type = "integer", default = 1 },
  backend = { type = "string", default = "auto" },
  chunk = { type = "integer", default = 0, doc = "rows per forward pass (0: automatic)" },
  lr = { type = "number", default = 1e-4 },
  betas = { type = "table", default = { 0.9, 0.999 } },
  eps = { type = "number", default = 1e-8 },
  weight_decay = { type = "number", default = 0 },
  clip = { type = "number", default = 0, doc = "gradient-norm clip (0: off)" },
  ema = { type = "number", default = 0.9999, doc = "EMA decay cap" },
  conditions = { type = "integer", default = 0, doc = "k conditions per row (e.g. 2 for beta, h); either backend" },
}

function M.transformer(opts)
  local o = util.options("tp.nn.transformer", opts, spec)
  local u, T, A = site_coords(o)
  local ls = o.layerscale
  if ls == true then ls = 0.1 end
  util.check_arg(ls == false or type(ls) == "number", "tp.nn.transformer: layerscale must be false or a number")
  local cfg = ffi.new("tp_tf_config", { o.states, T, o.embed, o.depth, o.heads, A, ls and 1 or 0, o.conditions })
  local p = C.tp_net_init(cfg, u, o.seed, ls or 1.0, o.backend, o.chunk)
  if p == nil then util.raise("tp.nn.transformer: %s", ffi.string(C.tp_last_error())) end
  p = ffi.gc(p, C.tp_net_free)
  local net = wrap(p)
  net:set_adam{ lr = o.lr, betas = o.betas, eps = o.eps, weight_decay = o.weight_decay, clip = o.clip }
  C.tp_net_set_ema_max(p, o.ema)
  return net
end

function Net:__tostring()
  return string.format("tp.nn.transformer(sites=%d, states=%d, embed=%d, depth=%d, heads=%d, axes=%d, params=%d, backend=%s)",
    self.sites, self.states, self.embed, self.depth, self.heads, self.axes, self.num_params, self.backend)
end

-- Adam settings: net:set_adam{ lr=, betas={b1,b2}, eps=, weight_decay=, clip= }
function Net:set_adam(o)
  local a = ffi.new("tp_adam_config")
  C.tp_net_get_adam(self._p, a)
  if o.lr then a.lr = o.lr end
  if o.betas then a.beta1, a.beta2 = o.betas[1], o.betas[2] end
  if o.eps then a.eps = o.eps end
  if o.weight_decay then a.weight_decay = o.weight_decay end
  if o.clip then a.clip = o.clip end
  util.check(C.tp_net_set_adam(self._p, a))
end

function Net:adam()
  local a = ffi.new("tp_adam_config")
  C.tp_net_get_adam(self._p, a)
  return { lr = a.lr, betas = { a.beta1, a.beta2 }, eps = a.eps, weight_decay = a.weight_decay, clip = a.clip }
end

function Net:steps() return tonumber(C.tp_net_step_count(self._p)) end

-- net:set_conditions(c [, count]): conditions for the next calls of a
-- conditioned network (kernels/net.h): c = { {beta, h}, ... } or a flat
-- list / float array of count*k numbers.  Methods also take
-- { conditions = c } and set them first.
function Net:set_conditions(c, count)
  local k = self.conditions
  util.check_arg(k > 0, "net:set_conditions: the network has no conditions (tp.nn.transformer{ conditions = k })")
  local a
  if type(c) == "table" then
    if type(c[1]) == "table" then
      count = #c
      a = f32_t(count * k)
      for r = 1, count do
        util.check_arg(#c[r] == k, "net:set_conditions: condition %d needs %d numbers, got %d", r, k, #c[r])
        for j = 1, k do a[(r - 1) * k + j - 1] = c[r][j] end
      end
    else
      util.check_arg(#c % k == 0, "net:set_conditions: a flat list needs a multiple of %d numbers, got %d", k, #c)
      count = #c / k
      a = f32_t(#c)
      for i = 1, #c do a[i - 1] = c[i] end
    end
  else
    util.check_arg(type(c) == "cdata" and type(count) == "number", "net:set_conditions: give a table or a float array and a count")
    a = c
  end
  util.check(C.tp_net_set_conditions(self._p, a, count))
end

local function apply_cond(self, o)
  if o.conditions ~= nil then self:set_conditions(o.conditions, o.condition_count) end
end

-- logp = net:forward(tokens, rows [, { ema = false }]) -> float[rows*sites*states]
function Net:forward(tokens, rows, o)
  o = o or {}
  util.check_arg(type(rows) == "number" and rows >= 0, "net:forward: rows must be a number >= 0")
  local x = tokens_arg("net:forward", tokens, rows * self.sites)
  local out = o.out or f32_t(rows * self.sites * self.states)
  apply_cond(self, o)
  util.check(C.tp_net_forward(self._p, out, x, rows, o.ema and 1 or 0))
  return out
end

local function stream_args(o, n)
  local seed = o.seed or require("tempera.run").seed()
  local stream = o.stream
  if not stream then stream = auto_stream; auto_stream = auto_stream + n end
  return seed, stream
end

-- tokens, logq = net:sample(n [, { ema = true, seed =, stream = }])
-- tokens: uint8_t[n*sites]; logq: double[n] = log p(x | order).
function Net:sample(n, o)
  o = o or {}
  util.check_arg(type(n) == "number" and n >= 0, "net:sample: n must be a number >= 0")
  local x, lq = o.out or u8_t(n * self.sites), o.logq or f64_t(n)
  local seed, stream = stream_args(o, n)
  local ema = o.ema == nil and 1 or (o.ema and 1 or 0)
  apply_cond(self, o)
  util.check(C.tp_net_sample(self._p, x, lq, n, seed, stream, 0, ema))
  return x, lq
end

-- logq = net:log_prob(tokens, n [, opts]): teacher-forced log p(x | order)
-- along a fresh random order per row.
function Net:log_prob(tokens, n, o)
  o = o or {}
  local x = tokens_arg("net:log_prob", tokens, n * self.sites)
  local lq = o.logq or f64_t(n)
  local seed, stream = stream_args(o, n)
  local ema = o.ema == nil and 1 or (o.ema and 1 or 0)
  apply_cond(self, o)
  util.check(C.tp_net_sample(self._p, x, lq, n, seed, stream, 1, ema))
  return lq
end

-- tokens, logq = net:inpaint(partial, n [, { truth =, fill =, ema = true, seed =, stream =, out = }])
-- In-painting: partial (n*sites tokens) holds the given
-- sites and the mask token (= net.states) at the sites to fill; those are
-- drawn along a random order of the masked sites, the given ones are kept.
-- logq: double[n] = log p(filled sites | given sites, order).  truth: full
-- configurations to score instead (teacher forcing).  fill: n*sites flags,
-- nonzero = draw this masked site; masked sites with 0 stay masked (hidden
-- context); default: draw every masked site.  partial is not modified
-- (tokens is a copy, or o.out).
function Net:inpaint(partial, n, o)
  o = o or {}
  util.check_arg(type(n) == "number" and n >= 0, "net:inpaint: n must be a number >= 0")
  local cnt = n * self.sites
  local src = tokens_arg("net:inpaint", partial, cnt)
  local x = o.out or u8_t(cnt)
  if x ~= src then ffi.copy(x, src, cnt) end
  local truth = o.truth and tokens_arg("net:inpaint", o.truth, cnt) or nil
  local fill = o.fill and tokens_arg("net:inpaint", o.fill, cnt) or nil
  local lq = o.logq or f64_t(n)
  local seed, stream = stream_args(o, n)
  local ema = o.ema == nil and 1 or (o.ema and 1 or 0)
  apply_cond(self, o)
  util.check(C.tp_net_inpaint(self._p, x, lq, truth, fill, n, seed, stream, ema))
  return x, lq
end

-- loss, ness = net:wdce_grad(tokens, log_rnd, B [, { replicates = 8, seed =, stream = }])
-- rows = { first, count }: only that share of the batch's gradient (the
-- weights stay the whole batch's; data-parallel training adds the shares)
function Net:wdce_grad(tokens, log_rnd, B, o)
  o = o or {}
  local R = o.replicates or 8
  util.check_arg(type(B) == "number" and B >= 1, "net:wdce: B must be >= 1")
  local x = tokens_arg("net:wdce", tokens, B * self.sites)
  local lr = doubles_arg("net:wdce", log_rnd, B, "log_rnd")
  local seed, stream = stream_args(o, B * R)
  apply_cond(self, o)
  if o.rows then
    util.check_arg(type(o.rows) == "table" and type(o.rows[1]) == "number" and type(o.rows[2]) == "number",
      "net:wdce: rows = { first, count }")
    util.check(C.tp_net_wdce_grad_rows(self._p, self._loss, self._loss + 1, x, lr, B, R, seed, stream, o.rows[1],
      o.rows[2]))
  else
    util.check(C.tp_net_wdce_grad(self._p, self._loss, self._loss + 1, x, lr, B, R, seed, stream))
  end
  return self._loss[0], self._loss[1]
end

-- net:sum_grads(): the gradients summed over the MPI ranks, added in rank
-- order (every rank gets the same bits); nothing with one process
local nccl_ready
function Net:sum_grads()
  if C.tp_mpi_size() == 1 then return end
  if C.tp_nccl_compiled() ~= 0 and ffi.string(C.tp_net_backend_name(self._p)) == "cuda" then
    -- on the GPUs: NCCL all-gather and a rank-order sum in place
    -- (compiled, not yet run on a GPU)
    if not nccl_ready then
      local id = ffi.new("uint8_t[128]")
      if C.tp_mpi_rank() == 0 then util.check(C.tp_nccl_unique_id(id, 128)) end
      util.check(C.tp_mpi_bcast(id, 128, 0))
      util.check(C.tp_nccl_init(id, 128, C.tp_mpi_size(), C.tp_mpi_rank()))
      nccl_ready = true
    end
    util.check(C.tp_nccl_sum_f32(C.tp_net_slab(self._p, 1), self.num_params))
    return
  end
  self._g = self._g or f32_t(self.num_params)
  util.check(C.tp_net_get(self._p, 1, self._g, self.num_params))
  util.check(C.tp_mpi_sum_f32(self._g, self.num_params))
  util.check(C.tp_net_set(self._p, 1, self._g, self.num_params))
end

-- loss, logq = net:order_grad(tokens, a, B, { seed =, stream = }): gradient of
-- sum_b a_b log p(x_b | order_b) along the orders net:sample drew with the
-- same seed and stream (REINFORCE, man tempera-reinforce(5); parameters, not the EMA).
function Net:order_grad(tokens, a, B, o)
  o = o or {}
  util.check_arg(type(B) == "number" and B >= 1, "net:order_grad: B must be >= 1")
  util.check_arg(o.stream ~= nil, "net:order_grad: give the stream the samples were drawn with")
  local x = tokens_arg("net:order_grad", tokens, B * self.sites)
  local w = doubles_arg("net:order_grad", a, B, "weights")
  local lq = o.logq or f64_t(B)
  local seed = o.seed or require("tempera.run").seed()
  apply_cond(self, o)
  util.check(C.tp_net_order_grad(self._p, self._loss, lq, x, w, B, seed, o.stream))
  return self._loss[0], lq
end

-- gnorm = net:update(): clip, Adam, EMA from the current gradients
function Net:update()
  util.check(C.tp_net_update(self._p, self._loss))
  return self._loss[0]
end

-- loss, ness = net:wdce_step(tokens, log_rnd, B [, opts]): wdce_grad + update
function Net:wdce_step(tokens, log_rnd, B, o)
  local loss, ness = self:wdce_grad(tokens, log_rnd, B, o)
  self:update()
  return loss, ness
end

-- loss = net:nll_grad(targets, input, row_weights, rows [, all_sites])
-- weighted masked NLL (cross-entropy with all_sites = true)
function Net:nll_grad(targets, input, rw, rows, all_sites)
  local t = tokens_arg("net:nll_grad", targets, rows * self.sites)
  local i = tokens_arg("net:nll_grad", input, rows * self.sites)
  local w = doubles_arg("net:nll_grad", rw, rows, "row weights")
  util.check(C.tp_net_nll_grad(self._p, self._loss, t, i, w, rows, all_sites and 1 or 0))
  return self._loss[0]
end

local slabs = { params = 0, grads = 1, adam_m = 2, adam_v = 3, ema = 4 }

-- a copy of a slab: net:get("params" | "grads" | "adam_m" | "adam_v" | "ema") -> float[num_params]
function Net:get(which)
  local w = slabs[which or "params"]
  util.check_arg(w, "net:get: unknown slab '%s'", tostring(which))
  local a = f32_t(self.num_params)
  util.check(C.tp_net_get(self._p, w, a, self.num_params))
  return a
end

function Net:set(which, arr)
  local w = slabs[which]
  util.check_arg(w, "net:set: unknown slab '%s'", tostring(which))
  util.check_arg(type(arr) == "cdata", "net:set: expects a float array of %d", self.num_params)
  util.check(C.tp_net_set(self._p, w, arr, self.num_params))
end

-- net:save(path [, slots]): slots = { name = {numbers} or double array + n }
function Net:save(path, slots)
  util.check_arg(type(path) == "string", "net:save: path must be a string")
  local ck = util.check_ptr(C.tp_ckpt_init())
  ck = ffi.gc(ck, C.tp_ckpt_free)
  util.check(C.tp_ckpt_set_net(ck, self._p))
  slots = slots or {}
  local names = {}
  for name in pairs(slots) do names[#names + 1] = tostring(name) end
  table.sort(names)   -- in name order: identical runs write identical files
  for _, name in ipairs(names) do
    local v = slots[name]
    if type(v) == "cdata" then   -- an FFI double array (C state, no Lua copy)
      local n = util.array_len(v, 8)
      util.check_arg(n and tostring(ffi.typeof(v)):find("double", 1, true),
        "net:save: slot '%s' must be a table of numbers or an FFI double array", tostring(name))
      util.check(C.tp_ckpt_set_slot(ck, tostring(name), v, n))
    else
      util.check_arg(type(v) == "table", "net:save: slot '%s' must be a table of numbers or an FFI double array",
        tostring(name))
      local a = f64_t(#v)
      for i = 1, #v do a[i - 1] = v[i] end
      util.check(C.tp_ckpt_set_slot(ck, tostring(name), a, #v))
    end
  end
  util.check(C.tp_ckpt_save(ck, path))
end

-- net, slots = tp.nn.load(path [, { backend =, chunk = }]); slots: name -> table
-- Returns nil, message when the file cannot be read.
function M.load(path, o)
  o = o or {}
  util.check_arg(type(path) == "string", "tp.nn.load: path must be a string")
  local ck = C.tp_ckpt_load(path)
  if ck == nil then return nil, ffi.string(C.tp_last_error()) end
  ck = ffi.gc(ck, C.tp_ckpt_free)
  local slots = {}
  for i = 0, C.tp_ckpt_slot_count(ck) - 1 do
    local name = ffi.string(C.tp_ckpt_slot_name(ck, i))
    local n = tonumber(C.tp_ckpt_slot_size(ck, name))
    local a = f64_t(n)
    util.check(C.tp_ckpt_get_slot(ck, name, a, n))
    local t = {}
    for k = 1, n do t[k] = a[k - 1] end
    slots[name] = t
  end
  local net
  if C.tp_ckpt_has_net(ck) ~= 0 then
    local p = C.tp_ckpt_new_net(ck, o.backend or "auto", o.chunk or 0)
    if p == nil then util.raise("tp.nn.load: %s", ffi.string(C.tp_last_error())) end
    net = wrap(ffi.gc(p, C.tp_net_free))
  end
  return net, slots
end

-- softmax weights and NESS of log weights (man tempera-analysis(5)): w, ness
function M.softmax_weights(log_w, B)
  B = B or #log_w
  local lw = doubles_arg("tp.nn.softmax_weights", log_w, B, "log weights")
  local w, ness = f64_t(B), f64_t(1)
  util.check(C.tp_loss_softmax_weights(w, ness, lw, B))
  return w, ness[0]
end

-- REINFORCE weights a (double[B]) from log p and beta*E (man tempera-reinforce(5))
function M.reinforce_weights(logp, beta_e, B)
  B = B or #logp
  local a = f64_t(B)
  util.check(C.tp_loss_reinforce_weights(a, doubles_arg("tp.nn.reinforce_weights", logp, B, "logp"),
    doubles_arg("tp.nn.reinforce_weights", beta_e, B, "beta_e"), B))
  return a
end

function M.ema_decay(n, cap) return C.tp_optim_ema_decay(n, cap or 0.9999) end
function M.backend() return ffi.string(C.tp_backend_default_name()) end

util.doc(M, [[
tp.nn -- the lattice transformer and its training state.  man tempera-nn; the methods: tempera-methods.
  tp.nn.transformer{ lattice_shape = {L, L} | coords = {{u..}..} | lattice = lat,
                     states = q, embed = 64, depth = 4, heads = 4, layerscale = false,
                     seed = 1, backend = "auto", lr = 1e-4, clip = 0, ema = 0.9999 }
  net:forward(tokens, rows) -> float logp[rows*sites*states]
  net:sample(n) -> tokens, logq          net:log_prob(tokens, n) -> logq
  net:inpaint(partial, n [, {truth =}]) -> tokens, logq   (mask token = states marks sites to fill)
  net:wdce_step(tokens, log_rnd, B, {replicates = 8}) -> loss, ness
  net:wdce_grad(...), net:update(), net:nll_grad(...)
  net:save(path, slots)                  tp.nn.load(path) -> net, slots
  tp.nn.softmax_weights(log_w), tp.nn.reinforce_weights(logp, beta_e), tp.nn.backend()]])
util.doc(M.transformer, "tp.nn.transformer{...} -> net (see help(tp.nn))")

return M
