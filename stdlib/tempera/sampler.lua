-- tempera.sampler: the masked-diffusion neural sampler on
-- top of a tp.nn transformer (kernels/net.h), and the batch it returns
-- (man tempera-train(5)).  Thin: the network samples and scores in C,
-- energies, CVs and the bias are batched C calls; only O(n) bookkeeping of
-- the log-weights happens here.
--
--   local S = tp.sampler.masked_diffusion(net, { model = m, beta = 0.6, bias = b })
--   local s = S:sample(128)         -- s.x, s.logq, s.energy, s.cv, s.v, s.log_rnd, s.log_rw
--   local t = S:score(s.x, s.n)     -- teacher forcing along fresh orders
--   local lq = S:log_prob(x, n)     -- log p(x | order) only
--
-- Batch fields (FFI arrays, 0-based, n rows):
--   x (n*sites tokens), logq = log p_theta(x | order) (exact along the drawn
--   order), energy = E(x), cv (n*dim, when a CV or bias is set), v = V(s(x))
--   (bias only, one snapshot: the bias as it is at the call),
--   log_rnd = r(x) - logq - D log q with r = -beta (E + V),
--   log_rw = -beta E - logq (likelihood log-weights to the unbiased target),
--   logw_bias = beta V (bias log-weights; 0 without a bias),
--   log_const = D log q, and n, beta.
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}
local Sampler = {}
Sampler.__index = Sampler

local u8_t, f64_t = ffi.typeof("uint8_t[?]"), ffi.typeof("double[?]")

local function is_net(net)
  return type(net) == "table" and net._p ~= nil and type(net.sites) == "number"
end

-- Check that model / CV / bias fit the network; returns the CV to use.
local function check_target(fname, net, model, bias, cv)
  if model ~= nil then
    util.check_arg(type(model) == "table" and model.energies, "%s: model must be a tp.model", fname)
    util.check_arg(model.n == net.sites, "%s: model has %d sites but the network has %d", fname, model.n, net.sites)
    util.check_arg(model.q == net.states, "%s: model has %d states but the network has %d", fname, model.q, net.states)
  end
  if bias ~= nil then
    util.check_arg(require("tempera.bias").is_bias(bias), "%s: bias must be a tp.bias.grid", fname)
    local bn = bias.cv and (bias.cv.n or (bias.cv.lattice and bias.cv.lattice.n))
    util.check_arg(bn == nil or bn == net.sites, "%s: the bias was built on CV '%s' of %d sites but the network has %d",
      fname, tostring(bias.cv and bias.cv.name), bn or -1, net.sites)
    cv = cv or bias.cv
    util.check_arg(cv ~= nil, "%s: the bias has no CV: give cv =", fname)
    util.check_arg(cv.dim == bias.dim, "%s: CV '%s' has dimension %d but the bias has %d", fname,
      tostring(cv.name), cv.dim, bias.dim)
  end
  if cv ~= nil then
    util.check_arg(type(cv) == "table" and cv.eval and cv.dim, "%s: cv must be a tp.cv", fname)
    local n = cv.n or (cv.lattice and cv.lattice.n)
    util.check_arg(n == nil or n == net.sites, "%s: CV '%s' is defined on %d sites but the network has %d",
      fname, tostring(cv.name), n or -1, net.sites)
  end
  return cv
end

-- tp.sampler.masked_diffusion(net [, { model =, beta =, bias =, cv = }])
function M.masked_diffusion(net, o)
  util.check_arg(is_net(net), "tp.sampler.masked_diffusion: expects a network from tp.nn.transformer")
  o = util.options("tp.sampler.masked_diffusion", o, {
    model = { type = "table", doc = "energy model (needed for energies and log-weights)" },
    beta = { type = "number", doc = "inverse temperature" },
    bias = { type = "table", doc = "a tp.bias.grid: target exp(-beta (E + V))" },
    cv = { type = "table", doc = "CV to evaluate (default: the bias's)" },
  })
  local cv = check_target("tp.sampler.masked_diffusion", net, o.model, o.bias, o.cv)
  return setmetatable({ net = net, model = o.model, beta = o.beta, bias = o.bias, cv = cv,
    sites = net.sites, states = net.states }, Sampler)
end

local sample_spec = {
  model = { type = "table" }, beta = { type = "number" }, bias = { type = "any" }, cv = { type = "table" },
  ema = { type = "boolean", default = true, doc = "use the EMA copy (default)" },
  seed = { type = "integer" }, stream = { type = "number", doc = "first Philox stream (one per row)" },
}

-- Fill energies, CVs, bias values and log-weights of a batch (x, logq, n).
function Sampler:_complete(fname, x, logq, n, o)
  local model = o.model or self.model
  local beta = o.beta or self.beta
  local bias = o.bias
  if bias == nil then bias = self.bias elseif bias == false then bias = nil end
  local cv = o.cv or (bias and bias.cv) or self.cv
  cv = check_target(fname, self.net, model, bias, cv)
  local b = { n = n, x = x, logq = logq, beta = beta, sites = self.sites,
              log_const = self.sites * math.log(self.states) }
  if cv and n > 0 then b.cv = cv:eval(x, n); b.dim = cv.dim end
  if bias and n > 0 then b.v = bias:eval(b.cv, n) end
  if model and n > 0 then
    util.check_arg(type(beta) == "number", "%s: give beta = with a model", fname)
    b.energy = model:energies(x, n)
    local lr, lw, lb = f64_t(n), f64_t(n), f64_t(n)
    local E, V, c = b.energy, b.v, b.log_const
    for i = 0, n - 1 do
      local v = V and V[i] or 0
      lw[i] = -beta * E[i] - logq[i]
      lr[i] = -beta * (E[i] + v) - logq[i] - c
      lb[i] = beta * v
    end
    b.log_rnd, b.log_rw, b.logw_bias = lr, lw, lb
  end
  return b
end

-- batch = S:sample(n [, { model =, beta =, bias = (false: none), cv =, ema = true, seed =, stream = }])
function Sampler:sample(n, o)
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n), "sampler:sample: n must be a count")
  o = util.options("sampler:sample", o, sample_spec)
  local x, lq = self.net:sample(n, { seed = o.seed, stream = o.stream, ema = o.ema })
  return self:_complete("sampler:sample", x, lq, n, o)
end

-- lq = S:log_prob(x, n [, { ema = true, seed =, stream = }]): teacher-forced
-- log p(x | order) along a fresh random order per row.
function Sampler:log_prob(x, n, o)
  o = o or {}
  return self.net:log_prob(x, n, { seed = o.seed, stream = o.stream, ema = o.ema ~= false })
end

-- batch = S:score(x, n [, opts as sample]): the same batch fields for given
-- configurations, logq by teacher forcing (replayed samples, proposals).
function Sampler:score(x, n, o)
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n), "sampler:score: n must be a count")
  o = util.options("sampler:score", o, sample_spec)
  if type(x) == "table" then
    local a = u8_t(n * self.sites)
    for i = 1, n * self.sites do a[i - 1] = x[i] end
    x = a
  end
  local lq = self.net:log_prob(x, n, { seed = o.seed, stream = o.stream, ema = o.ema })
  return self:_complete("sampler:score", x, lq, n, o)
end

-- S:sample_shared(n, opts) / S:score_shared(x, n, opts): the same batch as
-- S:sample / S:score (stream = the first row's), with the network's work
-- shared by the MPI ranks: rank r draws (or scores) its block of rows
-- (tp.mpi.split; row k keeps its stream, stream + k), the tokens and log q
-- are gathered in row order, and every rank completes the whole batch
-- (energies, CVs, bias values, weights: cheap, and identical everywhere)
local function shared(self, fname, n, o, x_all)
  local mpi = require "tempera.mpi"
  o = util.options(fname, o, sample_spec)
  util.check_arg(o.stream ~= nil, "%s: give the first row's stream (stream =)", fname)
  local first, count = mpi.split(n)
  local x, lq
  if count > 0 then
    local opts = { seed = o.seed, stream = o.stream + first, ema = o.ema }
    if x_all then
      lq = self.net:log_prob(x_all + first * self.sites, count, opts)
    else
      x, lq = self.net:sample(count, opts)
    end
  else
    x, lq = u8_t(1), f64_t(1)
  end
  if not x_all then x = mpi.gather_rows(x, n, self.sites, "uint8_t") end
  lq = mpi.gather_rows(lq, n, 1)
  return self:_complete(fname, x_all or x, lq, n, o)
end

function Sampler:sample_shared(n, o)
  if C.tp_mpi_size() == 1 then return self:sample(n, o) end
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n), "sampler:sample: n must be a count")
  return shared(self, "sampler:sample", n, o)
end

function Sampler:score_shared(x, n, o)
  if C.tp_mpi_size() == 1 then return self:score(x, n, o) end
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n), "sampler:score: n must be a count")
  util.check_arg(type(x) == "cdata", "sampler:score: x must be a uint8_t array of n configurations")
  util.check_count("sampler:score", "x", x, n * self.sites, 1)
  return shared(self, "sampler:score", n, o, x)
end

-- batch = tp.sampler.concat(a, b): rows of a then rows of b (fields both have)
function M.concat(a, b)
  util.check_arg(type(a) == "table" and type(b) == "table" and a.sites == b.sites,
    "tp.sampler.concat: expects two batches of the same lattice")
  local n = a.n + b.n
  local out = { n = n, sites = a.sites, beta = a.beta, log_const = a.log_const, dim = a.dim }
  out.x = u8_t(n * a.sites)
  if a.n > 0 then ffi.copy(out.x, a.x, a.n * a.sites) end
  if b.n > 0 then ffi.copy(out.x + a.n * a.sites, b.x, b.n * a.sites) end
  for _, k in ipairs { "logq", "energy", "v", "log_rnd", "log_rw", "logw_bias", "cv" } do
    local w = k == "cv" and (a.dim or 1) or 1
    if (a[k] or a.n == 0) and (b[k] or b.n == 0) then
      local t = f64_t(math.max(n * w, 1))
      if a.n > 0 then ffi.copy(t, a[k], a.n * w * 8) end
      if b.n > 0 then ffi.copy(t + a.n * w, b[k], b.n * w * 8) end
      out[k] = t
    end
  end
  return out
end

function Sampler:__tostring()
  return string.format("tp.sampler.masked_diffusion(%s%s)", tostring(self.net),
    self.bias and ", biased" or "")
end

util.doc(M, [[
tp.sampler -- the masked-diffusion sampler.  man tempera-train; the method: tempera-methods.
  S = tp.sampler.masked_diffusion(net, { model =, beta =, bias =, cv = })
  S:sample(n [, { seed =, stream =, ema = true, bias = false, beta = }]) -> batch
  S:score(x, n [, opts]) -> batch (teacher forcing)   S:log_prob(x, n) -> logq
  batch: x, logq, energy, cv, v, log_rnd = -beta(E+V) - logq - D log q,
         log_rw = -beta E - logq, logw_bias = beta V, n
  tp.sampler.concat(a, b) -> batch]])
util.doc(M.masked_diffusion, "tp.sampler.masked_diffusion(net, { model =, beta =, bias =, cv = }) -> sampler")

return M
