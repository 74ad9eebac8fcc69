-- tempera.marginal: marginalization models (man tempera-marginal(5)).  A second
-- lattice transformer phi gives log p(x_S) of any partial configuration in
-- one forward pass, fitted to an any-order sampler theta (trained by
-- tp.train.mdns / metadns or tp.reinforce) by the consistency penalty
--   ( log p_phi(x_sigma(<d)) + log p_theta(x_sigma(d) | x_sigma(<d)) - log p_phi(x_sigma(<=d)) )^2
-- over samples x of theta, uniformly random orders sigma and steps d.
-- The scalar is f(x_S) = sum_i logp_phi[i, state 0](x_S) and
-- log p_phi(x_S) = f(x_S) - f(empty), so the empty configuration has
-- probability 1 exactly (runtime/marginal.h).
--
--   local mam = tp.marginal{ sampler = net, embed = 32, depth = 2 }
--   mam:fit{ steps = 500, batch = 128 }
--   local lp = mam:log_prob(x, n)       -- one pass instead of one per site
--
-- The element-wise pieces are C (tp_mam_*); this file strings together
-- network primitives, like the training loops of tempera.train.
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}
local Mam = {}
Mam.__index = Mam

local u8_t, f64_t, i32_t = ffi.typeof("uint8_t[?]"), ffi.typeof("double[?]"), ffi.typeof("int32_t[?]")

local spec = {
  sampler = { type = "any", required = true, doc = "the any-order sampler theta: a tp.nn network or tp.sampler" },
  embed = { type = "integer", doc = "phi's width (default: theta's)" },
  depth = { type = "integer", doc = "phi's depth (default: theta's)" },
  heads = { type = "integer", doc = "phi's heads (default: theta's)" },
  lr = { type = "number", default = 1e-3 },
  clip = { type = "number", default = 1.0, doc = "gradient-norm clip (0: off)" },
  seed = { type = "integer", default = 1, doc = "phi's initialisation" },
  backend = { type = "string", default = "auto" },
}

local function theta_of(s)
  if type(s) == "table" and s.net and s.net.sample then s = s.net end
  util.check_arg(type(s) == "table" and s.sample and s.forward and s._p,
    "tp.marginal: 'sampler' must be a tp.nn network or a tp.sampler")
  util.check_arg((s.conditions or 0) == 0, "tp.marginal: conditioned networks are not supported")
  return s
end

-- mam = tp.marginal{ sampler =, embed =, depth =, heads =, lr = 1e-3, clip = 1, seed = 1 }
function M.new(opts)
  local o = util.options("tp.marginal", opts, spec)
  local theta = theta_of(o.sampler)
  local coords = ffi.new("float[?]", theta.sites * theta.axes)
  C.tp_net_get_coords(theta._p, coords)
  local cl = {}
  for t = 0, theta.sites - 1 do
    local c = {}
    for a = 0, theta.axes - 1 do c[a + 1] = coords[t * theta.axes + a] end
    cl[t + 1] = c
  end
  local phi = require("tempera.nn").transformer{ coords = cl, states = theta.states,
    embed = o.embed or theta.embed, depth = o.depth or theta.depth, heads = o.heads or theta.heads,
    seed = o.seed, backend = o.backend, lr = o.lr, clip = o.clip }
  return setmetatable({ theta = theta, net = phi, sites = theta.sites, states = theta.states,
                        history = {}, _loss = f64_t(1) }, Mam)
end

function Mam:__tostring()
  return string.format("tp.marginal(%d sites, %d states; phi %s; %d fit steps)", self.sites, self.states,
    tostring(self.net), #self.history)
end

-- f of rows of tokens (cdata, rows * sites) -> double[rows]
function Mam:_f(x, rows, ema)
  local lp = self.net:forward(x, rows, { ema = ema })
  local f = f64_t(rows)
  util.check(C.tp_mam_reduce(f, lp, rows, self.sites, self.states))
  return f
end

-- the consistency rows and terms of a batch x (B complete configurations):
-- stacked [before; upto] tokens written to the first 2*B rows of 'rows'
-- (allocated when nil), and c = log p_theta(x_site | before)
function Mam:_rows(x, B, seed, stream, theta_ema, rows)
  local T, q = self.sites, self.states
  rows = rows or u8_t(2 * B * T)
  local site = i32_t(B)
  util.check(C.tp_mam_prefix(rows, rows + B * T, site, x, seed, stream, B, T, q))
  local lt = self.theta:forward(rows, B, { ema = theta_ema })
  local c = f64_t(B)
  util.check(C.tp_mam_pick(c, lt, x, site, B, T, q))
  return rows, c
end

local fit_spec = {
  steps = { type = "integer", required = true, check = function(v) return v >= 1, "must be >= 1" end },
  batch = { type = "integer", default = 128, check = function(v) return v >= 1, "must be >= 1" end },
  resample_every = { type = "integer", default = 10, check = function(v) return v >= 1, "must be >= 1" end },
  anchor = { type = "number", default = 1, doc = "weight of the complete-configuration term (0: consistency only)" },
  ema = { type = "boolean", default = true, doc = "draw from and score with theta's EMA copy" },
  seed = { type = "integer" },
  stream = { type = "integer", default = 0x4d414d0000 },
  log = { type = "function", doc = "fn(step, loss) after every step" },
  progress = { type = "boolean", default = false },
}

-- mam:fit{ steps =, batch = 128, resample_every = 10, anchor = 1, ema = true, seed =, stream =, log = fn }
-- -> history (per step: mean squared consistency violation before the step)
-- anchor > 0 adds anchor * mean (log p_phi(x) - log p_theta(x | order))^2
-- over the complete samples, with theta's log-likelihood along the order
-- each was drawn in: it pins the whole configuration directly instead of
-- only through T chained differences.
function Mam:fit(opts)
  local o = util.options("marginal:fit", opts, fit_spec)
  local B, T, q = o.batch, self.sites, self.states
  local seed = o.seed or require("tempera.run").seed()
  local bar = o.progress and require("tempera.progress")({ label = "marginal", total = o.steps }) or nil
  local nr = o.anchor > 0 and 3 * B + 1 or 2 * B
  local zeros = u8_t(nr * T)
  local rows = u8_t(nr * T)
  local rw = f64_t(nr)
  local x, lq
  local k0 = #self.history
  if o.anchor > 0 then ffi.fill(rows + 3 * B * T, T, q) end
  for k = 1, o.steps do
    local step = k0 + k
    local s0 = o.stream + (step - 1) * (B + 1) * 2
    if (k - 1) % o.resample_every == 0 then
      x, lq = self.theta:sample(B, { seed = seed, stream = s0, ema = o.ema })
      if o.anchor > 0 then ffi.copy(rows + 2 * B * T, x, B * T) end
    end
    local _, c = self:_rows(x, B, seed, s0 + B, o.ema, rows)
    local f = self:_f(rows, nr, false)
    util.check(C.tp_mam_weights(self._loss, rw, f, f + B, c, B))
    local loss = self._loss[0]
    if o.anchor > 0 then
      local fe, a, g = f[3 * B], o.anchor, 0
      for b = 0, B - 1 do
        local d = f[2 * B + b] - fe - lq[b]
        rw[2 * B + b] = -2 * a * d / B
        g = g + 2 * a * d / B
      end
      rw[3 * B] = g
    end
    self.net:nll_grad(zeros, rows, rw, nr, true)
    self.net:update()
    self.history[step] = loss
    if o.log then o.log(step, loss) end
    if bar then bar:update(k) end
  end
  if bar then bar:finish() end
  return self.history
end

-- lp = mam:log_prob(x, n [, { ema = false }]) -> double[n]: log p(x_S) of n
-- complete or partial configurations (mask token = states) in one pass.
function Mam:log_prob(x, n, o)
  o = o or {}
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n), "marginal:log_prob: n must be a count")
  local T = self.sites
  local buf = u8_t((n + 1) * T)
  if type(x) == "table" then
    util.check_arg(#x >= n * T, "marginal:log_prob: expected %d tokens, got %d", n * T, #x)
    for i = 1, n * T do buf[i - 1] = x[i] end
  else
    util.check_arg(type(x) == "cdata", "marginal:log_prob: x must be a uint8_t array or a table")
    ffi.copy(buf, x, n * T)
  end
  ffi.fill(buf + n * T, T, self.states)
  local f = self:_f(buf, n + 1, o.ema)
  local out = f64_t(n)
  for r = 0, n - 1 do out[r] = f[r] - f[n] end
  return out
end

-- loss = mam:consistency(x, B [, { seed =, stream = }]): the mean squared
-- consistency violation on a batch (no gradient), a held-out diagnostic.
function Mam:consistency(x, B, o)
  o = o or {}
  util.check_arg(type(B) == "number" and B >= 1, "marginal:consistency: B must be >= 1")
  local seed = o.seed or require("tempera.run").seed()
  local rows, c = self:_rows(x, B, seed, o.stream or 0x4d414e0000, o.ema ~= false)
  local f = self:_f(rows, 2 * B, false)
  local rw = f64_t(2 * B)
  util.check(C.tp_mam_weights(self._loss, rw, f, f + B, c, B))
  return self._loss[0]
end

util.doc(M, [==[
tp.marginal -- marginalization models: log p(x_S) of partial configurations in one pass
  mam = tp.marginal{ sampler = net | tp.sampler, embed =, depth =, heads =, lr = 1e-3, clip = 1 }
  mam:fit{ steps =, batch = 128, resample_every = 10 } -> history of consistency losses
  mam:log_prob(x, n) -> double[n]    mam:consistency(x, B) -> mean squared violation
  mam.net is the marginal network phi (save/load it like any tp.nn network).
  See tempera-marginal(5); the method: tempera-methods(7).]==])

return setmetatable(M, { __call = function(_, o) return M.new(o) end })
