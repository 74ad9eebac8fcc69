-- tempera.reinforce: any-order autoregressive training by REINFORCE
-- (man tempera-reinforce(5)).  Minimises KL(p_theta || pi) over pairs (x, order): the
-- network draws x along a uniformly random order with its exact
-- log p(x | order), and the step follows
--   E[(log p(x|order) + beta E(x) - b) grad log p(x|order)],
-- the bracket standardised within the batch (tp_loss_reinforce_weights:
-- subtract the mean, divide by the std), per condition.  The gradient of
-- log p(x | order) is exact along the sampling order (tp_net_order_grad,
-- T teacher-forced rows per sample).
--
-- KL over pairs: KL(p(x,order) || pi(x) U(order)) = E_order KL(p(.|order) || pi)
-- >= KL(p || pi) for the order-averaged marginal p(x) = E_order p(x|order).
-- Importance weights pi~(x)/p(x|order) are unbiased for Z over pairs, so
--   log Z-hat = logsumexp_b(-beta E_b - log p(x_b|order_b)) - log B
-- with error sqrt((1/NESS - 1)/B) (delta method).
--
--   local r = tp.reinforce{ net = net, model = model, beta = 0.3, steps = 200, batch = 64 }
--   local info = tp.reinforce.step(net, model, beta, 64)        -- one step, a primitive
--   local lz, err, ness = tp.reinforce.log_z(net, model, beta, 1000)
--
-- Conditioned networks (tp.nn.transformer{ conditions = 2 }) train one
-- model over a grid: conditions = { {beta =, h =}, ... } and model =
-- function(cond) -> tp.model (or one model for every condition).
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}
local f64_t = ffi.typeof("double[?]")

-- next Philox stream block for calls that do not name one
local auto_stream = 0x52454e0000

local function streams(o, n)
  local s = o.stream
  if not s then s = auto_stream; auto_stream = auto_stream + n end
  return o.seed or require("tempera.run").seed(), s
end

local function check_pair(fname, net, model)
  util.check_arg(type(net) == "table" and net.order_grad, "%s: 'net' must be a tp.nn network", fname)
  util.check_arg(type(model) == "table" and model.energies, "%s: 'model' must be a tp.model", fname)
  util.check_arg(model.n == net.sites and model.q == net.states,
    "%s: the model has %d sites and %d states, the network %d and %d", fname,
    model.n, model.q, net.sites, net.states)
end

-- log Z-hat, its standard error and NESS from log weights lw (n)
local function log_z_of(lw, n)
  local w, ness = f64_t(n), f64_t(1)
  util.check(C.tp_loss_softmax_weights(w, ness, lw, n))
  local m = -math.huge
  for i = 0, n - 1 do if lw[i] > m then m = lw[i] end end
  local s = 0
  for i = 0, n - 1 do s = s + math.exp(lw[i] - m) end
  local nz = ness[0]
  return m + math.log(s) - math.log(n), math.sqrt(math.max(1 / nz - 1, 0) / n), nz
end
M.log_z_of = log_z_of

-- one condition's part of a step: sample B from the parameters, weights
-- a (B) written at a + off; returns tokens, logq, beta*E and stream
local function draw(net, model, beta, B, seed, stream, cond)
  local so = { seed = seed, stream = stream, ema = false, conditions = cond }
  local x, lq = net:sample(B, so)
  local e = model:energies(x, B)
  local be = f64_t(B)
  for b = 0, B - 1 do be[b] = beta * e[b] end
  return x, lq, be
end

-- info = tp.reinforce.step(net, model, beta, B [, { seed =, stream = }])
-- One REINFORCE step (sample, weights, exact-order gradient, Adam + EMA).
-- info = { loss, kl_upper = mean(log p + beta E) + log Z-hat, log_z, log_z_err,
--          ness, gnorm, mean_e } (log_z from this batch's weights).
function M.step(net, model, beta, B, o)
  o = o or {}
  check_pair("tp.reinforce.step", net, model)
  util.check_arg(type(beta) == "number" and beta == beta, "tp.reinforce.step: beta must be a number")
  util.check_arg(type(B) == "number" and B >= 2 and B == math.floor(B), "tp.reinforce.step: batch must be an integer >= 2")
  local seed, stream = streams(o, B)
  local x, lq, be = draw(net, model, beta, B, seed, stream)
  local a = f64_t(B)
  util.check(C.tp_loss_reinforce_weights(a, lq, be, B))
  local loss = net:order_grad(x, a, B, { seed = seed, stream = stream })
  local gnorm = net:update()
  local lw, mf, me = f64_t(B), 0, 0
  for b = 0, B - 1 do
    lw[b] = -be[b] - lq[b]
    mf, me = mf - lw[b], me + be[b]
  end
  local lz, err, ness = log_z_of(lw, B)
  return { loss = loss, log_z = lz, log_z_err = err, ness = ness, gnorm = gnorm,
           kl_upper = mf / B + lz, mean_e = me / B / beta }
end

-- lz, err, ness = tp.reinforce.log_z(net, model, beta, n [, { ema = true, seed =, stream = }])
-- log Z-hat from n fresh samples (unbiased Z-hat over pairs (x, order)).
function M.log_z(net, model, beta, n, o)
  o = o or {}
  check_pair("tp.reinforce.log_z", net, model)
  util.check_arg(type(n) == "number" and n >= 2, "tp.reinforce.log_z: n must be >= 2")
  local seed, stream = streams(o, n)
  local ema = o.ema == nil and true or o.ema
  local x, lq = net:sample(n, { seed = seed, stream = stream, ema = ema, conditions = o.conditions })
  local e = model:energies(x, n)
  local lw = f64_t(n)
  for b = 0, n - 1 do lw[b] = -beta * e[b] - lq[b] end
  return log_z_of(lw, n)
end

local spec = {
  net = { type = "any", required = true },
  model = { type = "any", required = true, doc = "a tp.model, or fn(cond) -> tp.model with conditions" },
  beta = { type = "number", doc = "target beta (unconditioned networks)" },
  conditions = { type = "table", doc = "list of {beta =, h =} for a conditioned network" },
  inputs = { type = "table", doc = "condition fields fed to the network (default {beta} or {beta, h})" },
  steps = { type = "integer", required = true, check = function(v) return v >= 1, "must be >= 1" end },
  batch = { type = "integer", default = 64, check = function(v) return v >= 2, "must be >= 2" end },
  seed = { type = "integer" },
  stream = { type = "integer", default = 0x52454f0000 },
  log = { type = "function", doc = "fn(step, info) after every step" },
  progress = { type = "boolean", default = false },
}

-- r = tp.reinforce{ net =, model =, beta = | conditions =, steps =, batch = 64, log = fn }
-- r.history: per step { loss, kl_upper, log_z, ness, gnorm } (unconditioned)
local function train(opts)
  local o = util.options("tp.reinforce", opts, spec)
  local net = o.net
  util.check_arg((o.beta ~= nil) ~= (o.conditions ~= nil), "tp.reinforce: give exactly one of beta, conditions")
  local bar = o.progress and require("tempera.progress")({ label = "reinforce", total = o.steps }) or nil
  local hist = {}
  if o.conditions then return M.train_conditioned(o, bar) end
  check_pair("tp.reinforce", net, o.model)
  for k = 1, o.steps do
    local info = M.step(net, o.model, o.beta, o.batch, { seed = o.seed, stream = o.stream + (k - 1) * o.batch })
    hist[k] = info
    if o.log then o.log(k, info) end
    if bar then bar:update(k) end
  end
  if bar then bar:finish() end
  return { history = hist, net = net, last = hist[#hist] }
end

-- ---- conditioned networks: one model over a grid of conditions ----------

-- the condition vector fed to the network for each condition table
local function cond_inputs(fname, net, conds, inputs)
  local k = net.conditions or 0
  util.check_arg(k > 0, "%s: conditions need a conditioned network (tp.nn.transformer{ conditions = k })", fname)
  inputs = inputs or (k == 1 and { "beta" } or k == 2 and { "beta", "h" } or nil)
  util.check_arg(type(inputs) == "table" and #inputs == k,
    "%s: the network takes %d conditions: give inputs = { names of %d condition fields }", fname, k, k)
  util.check_arg(type(conds) == "table" and #conds >= 1, "%s: conditions must be a non-empty list of tables", fname)
  local vec = {}
  for g, c in ipairs(conds) do
    util.check_arg(type(c) == "table" and type(c.beta) == "number", "%s: condition %d needs a number beta", fname, g)
    local v = {}
    for j, name in ipairs(inputs) do
      util.check_arg(type(c[name]) == "number", "%s: condition %d has no number '%s'", fname, g, name)
      v[j] = c[name]
    end
    vec[g] = v
  end
  return vec
end

local function cond_models(fname, net, model, conds)
  local ms = {}
  for g, c in ipairs(conds) do
    local m = model
    if type(model) == "function" then m = model(c) end
    check_pair(fname, net, m)
    ms[g] = m
  end
  return ms
end

-- rows (G*B) of conditions, row g*B + b = condition g
local function expand(vec, B)
  local k, G = #vec[1], #vec
  local a = ffi.new("float[?]", G * B * k)
  for g = 1, G do
    for b = 0, B - 1 do
      for j = 1, k do a[((g - 1) * B + b) * k + j - 1] = vec[g][j] end
    end
  end
  return a, G * B
end

-- info = tp.reinforce.step_conditioned(net, models, conds, vec, B, {seed, stream})
-- one step over every condition (B samples each); info.per[g] as in step()
function M.step_conditioned(net, models, conds, vec, B, o)
  local G = #conds
  local seed, stream = streams(o or {}, G * B)
  local ca, rows = expand(vec, B)
  net:set_conditions(ca, rows)
  local x, lq = net:sample(rows, { seed = seed, stream = stream, ema = false })
  local a, be, lw = f64_t(rows), f64_t(rows), f64_t(B)
  local per = {}
  for g = 1, G do
    local off = (g - 1) * B
    local e = models[g]:energies(x + off * net.sites, B)
    local beta = conds[g].beta
    for b = 0, B - 1 do be[off + b] = beta * e[b] end
    util.check(C.tp_loss_reinforce_weights(a + off, lq + off, be + off, B))
    local mf = 0
    for b = 0, B - 1 do lw[b] = -be[off + b] - lq[off + b]; mf = mf - lw[b] end
    local lz, err, ness = log_z_of(lw, B)
    per[g] = { log_z = lz, log_z_err = err, ness = ness, kl_upper = mf / B + lz }
  end
  local loss = net:order_grad(x, a, rows, { seed = seed, stream = stream })
  local gnorm = net:update()
  local kl = 0
  for g = 1, G do kl = kl + per[g].kl_upper / G end
  return { loss = loss, gnorm = gnorm, per = per, kl_upper = kl }
end

-- grid = tp.reinforce.log_z_grid(net, model, conditions, n [, { ema = true, inputs =, seed =, stream = }])
-- grid[g] = { beta, h, ..., log_z, log_z_err, ness, free_energy = -log_z / beta }
function M.log_z_grid(net, model, conds, n, o)
  o = o or {}
  local fname = "tp.reinforce.log_z_grid"
  local vec = cond_inputs(fname, net, conds, o.inputs)
  local models = cond_models(fname, net, model, conds)
  util.check_arg(type(n) == "number" and n >= 2, "%s: n must be >= 2", fname)
  local seed, stream = streams(o, #conds * n)
  local ca, rows = expand(vec, n)
  net:set_conditions(ca, rows)
  local ema = o.ema == nil and true or o.ema
  local x, lq = net:sample(rows, { seed = seed, stream = stream, ema = ema })
  local out, lw = {}, f64_t(n)
  for g, c in ipairs(conds) do
    local off = (g - 1) * n
    local e = models[g]:energies(x + off * net.sites, n)
    for b = 0, n - 1 do lw[b] = -c.beta * e[b] - lq[off + b] end
    local lz, err, ness = log_z_of(lw, n)
    local r = {}
    for key, v in pairs(c) do r[key] = v end
    r.log_z, r.log_z_err, r.ness, r.free_energy = lz, err, ness, -lz / c.beta
    out[g] = r
  end
  return out
end

function M.train_conditioned(o, bar)
  local fname = "tp.reinforce"
  local net, conds = o.net, o.conditions
  local vec = cond_inputs(fname, net, conds, o.inputs)
  local models = cond_models(fname, net, o.model, conds)
  local hist = {}
  local G = #conds
  for k = 1, o.steps do
    local info = M.step_conditioned(net, models, conds, vec, o.batch,
      { seed = o.seed, stream = o.stream + (k - 1) * G * o.batch })
    hist[k] = info
    if o.log then o.log(k, info) end
    if bar then bar:update(k) end
  end
  if bar then bar:finish() end
  return { history = hist, net = net, last = hist[#hist], models = models }
end

M = setmetatable(M, { __call = function(_, ...) return train(...) end })
M.train = train

util.doc(M, [[
tp.reinforce{ net =, model =, beta =, steps =, batch = 64, seed =, stream =, log = fn(step, info) }
  Any-order autoregressive REINFORCE over pairs (x, order):
  grad = E[(log p(x|order) + beta E(x) - b) grad log p(x|order)], standardised per batch.
  -> { history = { info, ... }, last = info }
tp.reinforce.step(net, model, beta, B [, {seed, stream}]) -> info
  info = { loss, kl_upper, log_z, log_z_err, ness, gnorm, mean_e }
tp.reinforce.log_z(net, model, beta, n [, {ema = true}]) -> log Z-hat, std error, NESS
Conditioned network (tp.nn.transformer{ conditions = 2 }, CPU or CUDA):
tp.reinforce{ net =, model = fn(cond) -> tp.model, conditions = { {beta =, h =}, ... },
              inputs = {"beta", "h"}, steps =, batch = (per condition) }
tp.reinforce.log_z_grid(net, model, conditions, n) -> { {beta, h, log_z, log_z_err, ness, free_energy}, ... 
man tempera-reinforce; the method: tempera-methods.]])

return M
