-- tempera.nmh: exactness on demand (man tempera-reinforce(5)):
-- independence Metropolis-Hastings with a trained any-order network as
-- the proposal.  Every chain proposes a fresh net sample x' with its exact
-- log-likelihood log p(x' | order') and accepts it with probability
--   min(1, pi(x') p(x | order) / (pi(x) p(x' | order'))),  pi = exp(-beta E).
--
-- Which p: the network's exact marginal p(x) averages over T! orders and is
-- not computable for useful T, so the chain runs on pairs (x, order).  The
-- proposal draws (x', order') from U(order') p(x' | order'), independently
-- of the current pair; the target is pi(x) U(order).  The uniform factors
-- cancel in the ratio above, so the chain leaves pi(x) U(order) invariant
-- and its x-marginal is exactly pi(x): unbiased estimates from plain chain
-- averages, no weights in the estimator.  The current state's log p is the
-- one computed when it was proposed (the same order).  refresh = true adds
-- a Gibbs step on the order before each proposal (a fresh uniform order for
-- the current x, teacher forced), also exact, at twice the network cost.
--
--   local r = tp.nmh{ net = net, model = model, beta = 0.44, steps = 200,
--                     chains = 64, burn_in = 20, cv = tp.cv.magnetization(lat) }
--   r.acceptance, r.stats.energy (tp.observables.stats), r.energy (double[chains*steps])
local util = require "tempera.util"
-- arrays sized by the recipe's counts: refused at its line when too large
local new_f64 = util.sized("double")
local rng = require "tempera.rng"
local obs = require "tempera.observables"
local ffi = require "ffi"

local M = {}

local spec = {
  net = { type = "any", required = true, doc = "a tp.nn network (the proposal)" },
  sampler = { type = "any", doc = "alternative to net: an object with a .net field" },
  model = { type = "any", required = true, doc = "energy model (m:energies(x, B))" },
  beta = { type = "number", required = true },
  steps = { type = "integer", required = true, check = function(v) return v >= 1, "must be >= 1" end },
  chains = { type = "integer", default = 64, check = function(v) return v >= 1, "must be >= 1" end },
  burn_in = { type = "integer", default = 0, check = function(v) return v >= 0, "must be >= 0" end },
  cv = { type = "any", doc = "a 1-D tp.cv recorded per chain and step" },
  ema = { type = "boolean", default = true, doc = "propose from the EMA copy" },
  refresh = { type = "boolean", default = false, doc = "Gibbs-refresh the current order each step" },
  seed = { type = "integer", doc = "default: the run's seed" },
  stream = { type = "integer", default = 0x4e4d480000, doc = "first Philox stream" },
  on_step = { type = "function", doc = "fn(step, x, energies) after every recorded step" },
  progress = { type = "boolean", default = false },
}

local function nmh(opts)
  if type(opts) == "table" and opts.net == nil and opts.sampler ~= nil then
    opts.net = opts.sampler.net or opts.sampler
  end
  local o = util.options("tp.nmh", opts, spec)
  local net, model = o.net, o.model
  util.check_arg(type(net) == "table" and net.sample and net.sites, "tp.nmh: 'net' must be a tp.nn network")
  util.check_arg(type(model) == "table" and model.energies, "tp.nmh: 'model' must be a tp.model")
  util.check_arg(model.n == net.sites and model.q == net.states,
    "tp.nmh: the model has %d sites and %d states, the network %d and %d",
    model.n, model.q, net.sites, net.states)
  if o.cv ~= nil then
    util.check_arg(type(o.cv) == "table" and o.cv.eval and o.cv.dim == 1, "tp.nmh: 'cv' must be a 1-D tp.cv")
  end
  local B, T, N, beta = o.chains, o.steps, net.sites, o.beta
  local seed = o.seed or require("tempera.run").seed()
  local stream = o.stream
  local sopt = { seed = seed, ema = o.ema }
  local function propose(k)
    sopt.stream = stream + k * 2 * B
    return net:sample(B, sopt)
  end
  -- initial states: one proposal, accepted
  local x, lq = propose(0)
  local e = model:energies(x, B)
  local es = ffi.new("double[?]", B)
  -- proposals use streams stream + k*2B .. + 2B - 1 (k = 0..burn_in+steps); the
  -- acceptance uniforms the stream after them
  local u = rng{ seed = seed, stream = stream + (o.burn_in + T + 1) * 2 * B }
  local energy = new_f64(B * T)
  local cvs = o.cv and new_f64(B * T) or nil
  local cvbuf = o.cv and ffi.new("double[?]", B) or nil
  local acc, prop = 0, 0
  local bar = o.progress and require("tempera.progress")({ label = "nmh", total = o.burn_in + T }) or nil
  for k = 1, o.burn_in + T do
    if o.refresh then
      net:log_prob(x, B, { seed = seed, stream = stream + k * 2 * B + B, ema = o.ema, logq = lq })
    end
    local y, ly = propose(k)
    local ey = model:energies(y, B, es)
    for c = 0, B - 1 do
      -- log alpha = log pi(y) - log pi(x) + log p(x) - log p(y)
      local la = -beta * (ey[c] - e[c]) + lq[c] - ly[c]
      if la >= 0 or u:uniform() < math.exp(la) then
        ffi.copy(x + c * N, y + c * N, N)
        e[c], lq[c] = ey[c], ly[c]
        if k > o.burn_in then acc = acc + 1 end
      end
    end
    if k > o.burn_in then
      local t = k - o.burn_in - 1
      prop = prop + B
      if cvs then o.cv:eval(x, B, cvbuf) end
      for c = 0, B - 1 do
        energy[c * T + t] = e[c]
        if cvs then cvs[c * T + t] = cvbuf[c] end
      end
      if o.on_step then o.on_step(t + 1, x, e) end
    end
    if bar then bar:update(k) end
  end
  if bar then bar:finish() end
  local r = {
    acceptance = acc / prop, accepted = acc, proposed = prop, chains = B, steps = T,
    energy = energy, cv = cvs, x = x, logq = lq, energies = e,
    stats = { energy = obs.stats(energy, B, T) },
  }
  if cvs then
    r.stats.cv = obs.stats(cvs, B, T)
    local a = new_f64(B * T)
    for i = 0, B * T - 1 do a[i] = math.abs(cvs[i]) end
    r.stats.abs_cv = obs.stats(a, B, T)
  end
  return r
end

M = setmetatable(M, { __call = function(_, ...) return nmh(...) end })
M.run = nmh

util.doc(M, [[
tp.nmh{ net = net, model = model, beta = b, steps = n, chains = 64, burn_in = 0,
        cv = nil, ema = true, refresh = false, seed =, stream =, on_step = fn(t, x, e) }
  Independence Metropolis-Hastings with the network as proposal, on pairs
  (x, order): accept min(1, pi(x') p(x|order) / (pi(x) p(x'|order'))).
  Exact for pi: plain chain averages are unbiased (no weights).
  -> { acceptance, accepted, proposed, energy = double[chains*steps] (chain-major),
       cv = double[chains*steps] | nil, x, logq, stats = { energy, cv, abs_cv } }
  stats.* come from tp.observables.stats (mean, err with tau_int)
man tempera-reinforce; the method: tempera-methods.]])

return M
