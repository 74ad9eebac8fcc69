-- tempera.mc: classical Monte Carlo (runtime/mc.c, mc_cluster.c, mc_wl.c;
-- man tempera-mc(5)).
--   local ch = tp.mc.chains{ model = m, chains = 64, seed = 1, start = "random" }
--   ch:sweep("metropolis" | "heatbath" | "swap" | "swendsen_wang" | "wolff", beta, n)
--   ch:energies(), ch:states(), ch:cv(cv), ch:acceptance()
--   tp.mc.sample{ model =, beta =, method =, chains =, burn_in =, samples =, every = }
--       -> energy, heat capacity, |m| (Mag.), correlation by distance, CV means, with error bars
--   tp.mc.metad{ model =, cv =, bias =, beta =, chains = 128, pace = 64, cycles = N,
--                reference = pmf, height = fn, sigma = fn }   WT-MetaD MCMC
--   tp.mc.wang_landau{ model =, emin =, emax =, de = }        density of states
--
-- Built-in models run in C on all cores.  A Lua model (tp.model.lua) or a Lua
-- CV is driven by the Lua loop below: the designated exception to "no
-- per-element loops in the stdlib" (the user's functions are Lua, so the loop
-- calling them is Lua too, and LuaJIT compiles both together).
local F = require "tempera.ffi"
local util = require "tempera.util"
-- arrays sized by the recipe's counts: refused at its line when too large
local new_f64, new_u8, new_i32 = util.sized("double"), util.sized("uint8_t"), util.sized("int32_t")
local run = require "tempera.run"
local obs = require "tempera.observables"
local bias_mod = require "tempera.bias"
local C, ffi = F.C, F.ffi

local M = {}

local METHOD = { metropolis = 1, heatbath = 2, heat_bath = 2, glauber = 2, swap = 3,
  swendsen_wang = 4, sw = 4, wolff = 5 }
local METHOD_LIST = "metropolis, heatbath, swap, swendsen_wang, wolff"

local function method_id(fname, name)
  local id = METHOD[name]
  if not id then util.raise("%s: unknown method '%s' (known: %s)", fname, tostring(name), METHOD_LIST) end
  return id
end

local function default_seed(seed)
  if seed ~= nil then return seed end
  run.announce_seed()
  return run.seed()
end

-- A CV read on configurations of model m must be built for as many sites
-- and states (a CV of another lattice would read out of bounds or give
-- numbers about other sites).
local function check_cv_fits(fname, cv, m)
  util.check_arg(type(cv) == "table" and cv.dim, "%s: cv must be a tp.cv, got %s", fname, type(cv))
  util.check_arg(not cv.n or cv.n == m.n, "%s: CV '%s' is for %d sites, the model has %d (build the CV on the model's lattice)",
    fname, cv.name or "?", cv.n or 0, m.n)
  util.check_arg(not cv.q or not m.q or cv.q == m.q, "%s: CV '%s' is for %d states per site, the model has %d",
    fname, cv.name or "?", cv.q or 0, m.q or 0)
end
M.check_cv_fits = check_cv_fits

-- ---- chains of a built-in model (C) ---------------------------------------
local Chains = {}
Chains.__index = Chains

-- a count of sweeps or attempts: a whole number >= 0 (FFI would truncate 1.5)
local function count(fname, what, n)
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n) and n < 2 ^ 53,
    "%s: %s must be a whole number >= 0, got %s", fname, what, tostring(n))
  return n
end

function Chains:sweep(method, beta, n)
  util.check_arg(type(beta) == "number", "chains:sweep(method, beta, n): beta must be a number")
  count("chains:sweep", "the number of sweeps", n or 1)
  util.check(C.tp_mc_sweep(self.c, method_id("chains:sweep", method), beta, n or 1))
  return self
end
function Chains:states() return C.tp_mc_states(self.c) end
function Chains:set_states(x) util.check(C.tp_mc_set_states(self.c, x)) end
function Chains:energies(out)
  out = out or ffi.new("double[?]", self.B)
  util.check(C.tp_mc_energies(self.c, out))
  return out
end
function Chains:cv(cv, out)
  check_cv_fits("chains:cv", cv, self.model)
  return cv:eval(self:states(), self.B, out)
end
function Chains:acceptance() return C.tp_mc_acceptance(self.c) end
-- Metropolis on E + V(s) for `attempts` single-site attempts per chain;
-- s_out (B, dim) gets the final CVs.
function Chains:biased(cv, bias, beta, attempts, s_out)
  util.check_arg(cv and cv.c, "chains:biased: needs a built-in CV (a Lua CV runs with the Lua driver)")
  count("chains:biased", "the number of attempts", attempts)
  util.check_count("chains:biased", "s_out", s_out, self.B * cv.dim, 8)
  s_out = s_out or ffi.new("double[?]", self.B * cv.dim)
  util.check(C.tp_mc_biased(self.c, cv.c, bias.c, beta, attempts, s_out))
  return s_out
end
function Chains:__tostring()
  return string.format("tp.mc.chains(%d x %s)", self.B, self.model.name or "?")
end

-- ---- chains of a Lua model (Lua driver) -----------------------------------
local LuaChains = {}
LuaChains.__index = LuaChains

function LuaChains:sweep(method, beta, n)
  local id = method_id("chains:sweep", method)
  count("chains:sweep", "the number of sweeps", n or 1)
  util.check_arg(type(beta) == "number" and beta > 0, "chains:sweep: beta must be > 0, got %s", tostring(beta))
  if id >= 4 then util.raise("chains:sweep: %s needs a built-in Ising or Potts model", method) end
  local m, B, N, q = self.model, self.B, self.n, self.model.q
  local de, lat, x0 = m.de_fn, m.lattice, self.x
  for _ = 1, n or 1 do
    if C.tp_interrupted() ~= 0 then util.check(1) end
    for b = 0, B - 1 do
      local x, r = x0 + b * N, self.rng[b + 1]
      for i = 0, N - 1 do
        if id == 3 then
          local j, k = r:below(N), r:below(N)
          local u = r:uniform()
          if x[j] ~= x[k] then
            local d = m:de_swap(x, j, k)
            if d <= 0 or u < math.exp(-beta * d) then x[j], x[k] = x[k], x[j]; self.acc = self.acc + 1 end
          end
        elseif id == 1 then
          local a = x[i]
          local s = q == 2 and 1 - a or (a + 1 + r:below(q - 1)) % q
          local u = r:uniform()
          local d = de(x, i, s, lat)
          if d <= 0 or u < math.exp(-beta * d) then x[i] = s; self.acc = self.acc + 1 end
        else
          local w, tot, a, dmin = {}, 0, x[i], 0
          for s = 0, q - 1 do w[s] = de(x, i, s, lat); if w[s] < dmin then dmin = w[s] end end
          for s = 0, q - 1 do w[s] = math.exp(-beta * (w[s] - dmin)); tot = tot + w[s] end
          local u, s = r:uniform() * tot, 0
          while s < q - 1 and u >= w[s] do u = u - w[s]; s = s + 1 end
          if s ~= a then self.acc = self.acc + 1 end
          x[i] = s
        end
      end
    end
    self.att = self.att + B * N
  end
  return self
end
function LuaChains:states() return self.x end
function LuaChains:set_states(x)
  self.model:check(x, self.B)
  ffi.copy(self.x, x, self.B * self.n)
end
function LuaChains:energies(out) return self.model:energies(self.x, self.B, out) end
function LuaChains:cv(cv, out)
  check_cv_fits("chains:cv", cv, self.model)
  return cv:eval(self.x, self.B, out)
end
function LuaChains:acceptance() return self.att > 0 and self.acc / self.att or 0 end
-- Metropolis on E + V(s) (any model, any CV), Lua loop; cost O(n) per
-- attempt for a Lua CV.
function LuaChains:biased(cv, bias, beta, attempts, s_out)
  count("chains:biased", "the number of attempts", attempts)
  util.check_arg(cv.dim == bias.dim, "chains:biased: CV '%s' has dimension %d but the bias grid has %d",
    cv.name or "?", cv.dim, bias.dim)
  local m, B, N, q = self.model, self.B, self.n, self.model.q
  s_out = s_out or ffi.new("double[?]", B * cv.dim)
  local de, lat = m.de_fn, m.lattice
  local sv = ffi.new("double[?]", cv.dim)
  local function vb(x)
    cv:eval(x, 1, sv)
    return C.tp_bias_value(bias.c, sv)
  end
  for b = 0, B - 1 do
    local x, r = self.x + b * N, self.rng[b + 1]
    local v = vb(x)
    for _ = 1, attempts do
      local i = self.pos[b + 1]
      self.pos[b + 1] = (i + 1) % N
      local a = x[i]
      local s = q == 2 and 1 - a or (a + 1 + r:below(q - 1)) % q
      local u = r:uniform()
      local d = de(x, i, s, lat)
      x[i] = s
      local v2 = vb(x)
      local t = d + v2 - v
      if t <= 0 or u < math.exp(-beta * t) then v = v2; self.acc = self.acc + 1 else x[i] = a end
    end
    self.att = self.att + attempts
    cv:eval(x, 1, s_out + b * cv.dim)
  end
  if C.tp_interrupted() ~= 0 then util.check(1) end
  return s_out
end
LuaChains.__tostring = Chains.__tostring

function M.chains(o)
  o = util.options("tp.mc.chains", o, {
    model = { type = "table", required = true }, chains = { type = "integer", default = 1 },
    seed = { type = "integer" }, start = { type = "string", default = "random" },
    lua = { type = "boolean", default = false },
    first = { type = "integer", default = 0, doc = "global index of the first chain (its random streams): one rank's share" },
  })
  util.check_arg(o.chains >= 1, "tp.mc.chains: chains must be >= 1, got %d", o.chains)
  util.check_arg(o.first >= 0, "tp.mc.chains: first must be >= 0, got %d", o.first)
  util.check_arg(o.start == "random" or o.start == "zero", "tp.mc.chains: start must be 'random' or 'zero'")
  local seed = default_seed(o.seed)
  local m = o.model
  if m.c and not o.lua then
    local c = util.check_ptr(C.tp_mc_init_range(m.c, o.chains, seed, o.start == "zero" and 1 or 0, o.first))
    return setmetatable({ c = ffi.gc(c, C.tp_mc_free), B = o.chains, n = m.n, model = m }, Chains)
  end
  util.check_arg(m.de_fn or m.c, "tp.mc.chains: model must be a tp.model")
  local self = setmetatable({ B = o.chains, n = m.n, model = m, rng = {}, pos = {}, acc = 0, att = 0 }, LuaChains)
  if not m.de_fn then
    -- built-in model forced onto the Lua driver (tests): use its C de
    self.model = setmetatable({ de_fn = function(x, i, s) return C.tp_model_de(m.c, x, i, s) end }, { __index = m })
  end
  self.x = new_u8(o.chains * m.n)
  for b = 1, o.chains do
    self.rng[b] = require("tempera.rng"){ seed = seed, stream = o.first + b - 1 }
    self.pos[b] = 0
    for i = 0, m.n - 1 do
      self.x[(b - 1) * m.n + i] = o.start == "zero" and 0 or self.rng[b]:below(m.q)
    end
  end
  return self
end

-- ---- order parameters -------------------------------------------------------
-- Mag. (man tempera-mc(5)): Ising |m| = |2 c_1 - 1|; Potts (q max_k c_k - 1) / (q - 1),
-- which is 0 for equal fractions and 1 when ordered.  From token counts
-- computed in C (tp_obs_token_counts): no per-site loop runs here.
local function mag_value(cnt, off, q, n)
  if q == 2 then return math.abs(2 * cnt[off + 1] / n - 1) end
  local mx = 0
  for k = 0, q - 1 do if cnt[off + k] > mx then mx = cnt[off + k] end end
  return (q * mx / n - 1) / (q - 1)
end

-- jackknife over chains of beta^2 Var(E) / n (pooled), B >= 2
local function heat_capacity(e, B, T, beta, n)
  local s1, s2, c1, c2 = 0, 0, {}, {}
  for b = 0, B - 1 do
    local a1, a2 = 0, 0
    for t = 0, T - 1 do local v = e[b * T + t]; a1 = a1 + v; a2 = a2 + v * v end
    c1[b], c2[b] = a1, a2
    s1, s2 = s1 + a1, s2 + a2
  end
  local N = B * T
  local mean = beta * beta * (s2 / N - (s1 / N) ^ 2) / n
  if B < 2 then return { mean = mean, err = 0 / 0 } end
  local js, jv = {}, 0
  local jm = 0
  for b = 0, B - 1 do
    local M1, M2 = (s1 - c1[b]) / (N - T), (s2 - c2[b]) / (N - T)
    js[b] = beta * beta * (M2 - M1 * M1) / n
    jm = jm + js[b] / B
  end
  for b = 0, B - 1 do jv = jv + (js[b] - jm) ^ 2 end
  return { mean = mean, err = math.sqrt(jv * (B - 1) / B) }
end

function M.sample(o)
  o = util.options("tp.mc.sample", o, {
    model = { type = "table", required = true }, beta = { type = "number", required = true },
    method = { type = "string", default = "metropolis" }, chains = { type = "integer", default = 16 },
    burn_in = { type = "integer", default = 1024 }, samples = { type = "integer", default = 1000 },
    every = { type = "integer", default = 1 }, seed = { type = "integer" },
    start = { type = "string", default = "random" }, cv = { type = "table" },
    corr = { type = "boolean", default = false }, rmax = { type = "integer" },
    init = { type = "table" },
    mag = { type = "boolean" }, progress = { type = "boolean", default = true },
    label = { type = "string" },
    warn = { type = "boolean", default = true, doc = "print untrustworthy error bars to stderr (res.warnings)" },
  })
  util.check_arg(o.beta > 0, "tp.mc.sample: beta must be > 0, got %g", o.beta)
  util.check_arg(o.samples >= 2, "tp.mc.sample: samples must be >= 2")
  method_id("tp.mc.sample", o.method)
  local m = o.model
  local ch = o.init
  if ch then
    util.check_arg(ch.model == m and ch.B, "tp.mc.sample: init must be tp.mc.chains of the same model")
    o.chains = ch.B
  else
    ch = M.chains{ model = m, chains = o.chains, seed = o.seed, start = o.start }
  end
  local B, T, n, q = o.chains, o.samples, m.n, m.q
  -- cv: one CV or a list of CVs; res.cv lists every dimension of each in order
  local cvs = {}
  if o.cv then cvs = o.cv.dim and { o.cv } or o.cv end
  local mag = o.mag
  if mag == nil then mag = m.kind == "ising" or m.kind == "potts" end
  local lat = m.lattice
  local rmax = o.rmax or (o.corr and math.floor(lat.size[0] / 2)) or 0
  local E = new_f64(B * T)
  local MG = mag and new_f64(B * T)
  local dim = 0
  for _, c in ipairs(cvs) do
    util.check_arg(type(c) == "table" and c.dim, "tp.mc.sample: cv must be a tp.cv or a list of them")
    check_cv_fits("tp.mc.sample", c, m)
    dim = dim + c.dim
  end
  local CVS = {}
  for k = 1, dim do CVS[k] = new_f64(B * T) end
  local CR = {}
  if o.corr then for r = 0, rmax do CR[r] = new_f64(B * T) end end
  local e = ffi.new("double[?]", B)
  local sv = dim > 0 and new_f64(B * dim)
  local cnt = mag and new_i32(B * q)
  local msum = 0   -- sum of the signed magnetisation (Ising), for connected Corr.
  local cbuf = o.corr and new_f64(B * (rmax + 1))
  local kind = m.kind == "potts" and 1 or 0
  local p = o.progress and require("tempera.progress"){ label = o.label or ("mc " .. o.method), total = o.burn_in + T * o.every }
  local chunk = math.max(1, math.floor(o.burn_in / 20))
  local done = 0
  while done < o.burn_in do
    local k = math.min(chunk, o.burn_in - done)
    ch:sweep(o.method, o.beta, k)
    done = done + k
    if p then p:update(done) end
  end
  for t = 0, T - 1 do
    ch:sweep(o.method, o.beta, o.every)
    ch:energies(e)
    local x = ch:states()
    local off = 0
    for _, c in ipairs(cvs) do
      ch:cv(c, sv)
      for b = 0, B - 1 do
        for k = 1, c.dim do CVS[off + k][b * T + t] = sv[b * c.dim + k - 1] end
      end
      off = off + c.dim
    end
    if mag then util.check(C.tp_obs_token_counts(cnt, x, B, n, q)) end
    if o.corr then util.check(C.tp_obs_corr_rows(cbuf, lat, x, B, kind, q, rmax)) end
    for b = 0, B - 1 do
      local idx = b * T + t
      E[idx] = e[b]
      if mag then
        MG[idx] = mag_value(cnt, b * q, q, n)
        if q == 2 then msum = msum + 2 * cnt[b * q + 1] / n - 1 end
      end
      if o.corr then
        for r = 0, rmax do CR[r][idx] = cbuf[b * (rmax + 1) + r] end
      end
    end
    if p and t % 16 == 0 then p:update(o.burn_in + (t + 1) * o.every) end
  end
  if p then p:finish() end
  local res = { chains = ch, beta = o.beta, method = o.method, B = B, T = T, n = n }
  res.energy = obs.stats(E, B, T)
  local eps = {}
  for k, v in pairs(res.energy) do eps[k] = v end
  for _, k in ipairs { "mean", "err", "err_blocking", "err_chains" } do eps[k] = eps[k] / n end
  eps.var = eps.var / (n * n)
  res.energy_per_site = eps
  res.heat_capacity = heat_capacity(E, B, T, o.beta, n)
  if mag then res.mag = obs.stats(MG, B, T) end
  if dim > 0 then
    res.cv = {}
    for k = 1, dim do res.cv[k] = obs.stats(CVS[k], B, T) end
  end
  if o.corr then
    res.corr = {}
    for r = 0, rmax do
      local s = obs.stats(CR[r], B, T)
      s.r = r
      -- Ising: connected version <s_i s_{i+r}> - <m>^2
      if mag and q == 2 then s.connected = s.mean - (msum / (B * T)) ^ 2 end
      res.corr[r + 1] = s
    end
  end
  res.acceptance = ch:acceptance()
  res.series = { energy = E, mag = MG, cv = CVS, corr = CR }
  -- error bars that cannot be trusted are said, not just printed as numbers
  local warn = {}
  local function check(name, s)
    for _, w in ipairs(s and s.warnings or {}) do warn[#warn + 1] = name .. ": " .. w end
  end
  check("energy", res.energy)
  check("mag", res.mag)
  for k, s in ipairs(res.cv or {}) do check("cv " .. k, s) end
  if #warn > 0 then
    res.warnings = warn
    if o.warn ~= false then
      for _, w in ipairs(warn) do
        io.stderr:write("tempera: warning: tp.mc.sample (", o.label or o.method, "): ", w, "\n")
      end
    end
  end
  return res
end

-- ---- WT-MetaD MCMC -----------------------------------------------------------
local MetaD = {}
MetaD.__index = MetaD

-- value of a schedule entry: a number, or fn(cycle, bias) -> number
local function sched(v, cyc, bias)
  if type(v) == "function" then return v(cyc, bias) end
  return v
end

function M.metad(o)
  o = util.options("tp.mc.metad", o, {
    model = { type = "table", required = true }, cv = { type = "table", required = true },
    bias = { type = "table", required = true }, beta = { type = "number", required = true },
    chains = { type = "integer", default = 128 }, pace = { type = "any", default = 64 },
    pace_unit = { type = "string", default = "sweep" }, cycles = { type = "integer", required = true },
    height = { type = "any" }, sigma = { type = "any" }, seed = { type = "integer" },
    start = { type = "string", default = "random" }, reference = { type = "any" },
    record_every = { type = "integer", default = 10 }, on_cycle = { type = "function" },
    harvest = { type = "table", doc = "{ from = cycle, every = k }: keep the walkers' configurations" },
    progress = { type = "boolean", default = true }, label = { type = "string", default = "metad" },
    hills = { type = "string", doc = "PLUMED HILLS file written as the run goes (HILLS.0 .. HILLS.<chains-1>, one per walker)" },
    colvar = { type = "string", doc = "PLUMED COLVAR file: each walker's CV and bias per cycle (COLVAR.<k> per walker)" },
  })
  util.check_arg(bias_mod.is_bias(o.bias), "tp.mc.metad: bias must be a tp.bias.grid")
  check_cv_fits("tp.mc.metad", o.cv, o.model)
  if o.bias.cv then check_cv_fits("tp.mc.metad: the bias's CV", o.bias.cv, o.model) end
  util.check_arg(o.cv.dim == o.bias.dim, "tp.mc.metad: CV '%s' has dimension %d but the bias grid has %d",
    o.cv.name or "?", o.cv.dim, o.bias.dim)
  util.check_arg(o.beta > 0, "tp.mc.metad: beta must be > 0, got %g", o.beta)
  util.check_arg(not o.cv.n or o.cv.n == o.model.n, "tp.mc.metad: CV '%s' is for %d sites, the model has %d",
    o.cv.name or "?", o.cv.n or 0, o.model.n)
  util.check_arg(o.pace_unit == "sweep" or o.pace_unit == "attempt", "tp.mc.metad: pace_unit must be 'sweep' or 'attempt'")
  util.check_arg(o.cycles >= 0, "tp.mc.metad: cycles must be >= 0")
  -- a Lua CV (no C tp_cv) needs the Lua driver even for a built-in model
  if o.harvest then
    local h = o.harvest
    util.check_arg(type(h.every) == "number" and h.every >= 1 and h.every == math.floor(h.every),
      "tp.mc.metad: harvest = { from = cycle, every = k } needs every >= 1")
    util.check_arg(h.from == nil or (type(h.from) == "number" and h.from >= 0), "tp.mc.metad: harvest.from must be >= 0")
  end
  -- several ranks (mpirun): each runs its block of the chains, keyed by
  -- their global indices; the CVs are gathered in chain order every cycle
  -- and every rank deposits the same hills, so the bias is one bias
  local mpi = require "tempera.mpi"
  local first, count = mpi.split(o.chains)
  util.check_arg(count >= 1, "tp.mc.metad: %d chains over %d ranks: give at least one chain per rank", o.chains,
    mpi.size())
  local ch = M.chains{ model = o.model, chains = count, first = first, seed = o.seed, start = o.start,
    lua = o.cv.c == nil }
  local self = setmetatable({ chains = ch, bias = o.bias, cv = o.cv, beta = o.beta, model = o.model,
    history = {}, cycle = 0, sweeps = 0, opts = o, B = o.chains, ranks = mpi.size() }, MetaD)
  if o.hills or o.colvar then
    -- PLUMED's multiple walkers: every chain is a walker with its own files;
    -- time counts the sweeps each walker has made
    local P = require "tempera.plumed"
    self.plumed = P.writer{ bias = o.bias, hills = o.hills, colvar = o.colvar, cv = P.cv_labels(o.cv, o.cv.dim),
      walkers = o.chains, time_unit = "sweep", energy_unit = P.energy_unit(o.model), label = o.label }
  end
  local ref = o.reference
  if ref ~= nil then
    if type(ref) == "table" then
      util.check_arg(#ref == o.bias.size, "tp.mc.metad: reference has %d values, the bias grid %d", #ref, o.bias.size)
      local a = ffi.new("double[?]", #ref)
      for i = 1, #ref do a[i - 1] = ref[i] end
      ref = a
    end
    self.reference = ref
  end
  self:run(o.cycles)
  return self
end

-- RMSE (energy units) of the bias PMF against the reference, minima aligned
function MetaD:rmse()
  if not self.reference then return nil end
  local F = self.bias:pmf(self._pmf)
  self._pmf = F
  return obs.pmf_rmse(F, self.reference, self.bias.size)
end

-- this rank's chains' CVs (count * dim) gathered from every rank: (B, dim)
-- in global chain order (the array itself with one rank)
function MetaD:_gather(s_local, width, ctype)
  if self.ranks == 1 then return s_local end
  return require("tempera.mpi").gather_rows(s_local, self.B, width, ctype)
end

function MetaD:run(cycles)
  local o, B, n = self.opts, self.B, self.model.n
  local s_local = self._s or ffi.new("double[?]", self.chains.B * self.cv.dim)
  self._s = s_local
  local p = o.progress and cycles > 0 and require("tempera.progress"){ label = o.label, total = cycles }
  if self.cycle == 0 and self.reference then
    self.history[#self.history + 1] = { cycle = 0, hills = 0, rmse = self:rmse() }
  end
  for k = 1, cycles do
    local cyc = self.cycle + 1
    local pace = sched(o.pace, cyc, self.bias)
    util.check_arg(type(pace) == "number" and pace >= 1, "tp.mc.metad: pace must be >= 1, got %s", tostring(pace))
    local attempts = o.pace_unit == "sweep" and pace * n or pace
    self.chains:biased(self.cv, self.bias, self.beta, attempts, s_local)
    local s = self:_gather(s_local, self.cv.dim)
    if o.height then self.bias:set{ height = sched(o.height, cyc, self.bias) } end
    if o.sigma then self.bias:set{ sigma = sched(o.sigma, cyc, self.bias) } end
    self.sweeps = self.sweeps + attempts / n
    if self.plumed then self.plumed:cycle(s, B, nil, self.sweeps) else self.bias:deposit(s, B) end
    self.cycle = cyc
    local hv = o.harvest
    if hv and cyc >= (hv.from or 0) and cyc % hv.every == 0 then
      -- the walkers' configurations after this cycle (before its hills act)
      local a = new_u8(self.chains.B * n)
      ffi.copy(a, self.chains:states(), self.chains.B * n)
      a = self:_gather(a, n, "uint8_t")
      self._harvest = self._harvest or {}
      self._harvest[#self._harvest + 1] = a
    end
    if o.record_every > 0 and cyc % o.record_every == 0 then
      local h = { cycle = cyc, hills = self.bias:info().nhills, rmse = self:rmse() }
      self.history[#self.history + 1] = h
    end
    if o.on_cycle then o.on_cycle(self, cyc, s) end
    if p then p:update(k, self.reference and self.history[#self.history].rmse
      and string.format("rmse %.3f", self.history[#self.history].rmse) or nil) end
  end
  if p then p:finish() end
  if self.plumed then self.plumed:flush() end
  local rep = self.bias:out_of_grid_report()
  if rep ~= "" and C.tp_log_quiet() == 0 then io.stderr:write("tempera: ", rep, "\n") end
  return self
end

-- md:harvested() -> { x = uint8_t* (n, sites), n = count, sites = } of the
-- walkers' configurations kept by harvest = { from =, every = } (cycle
-- order, chains in order within a cycle); n = 0 when none was kept.  Under
-- a converging bias they approach the biased target exp(-beta (E + V)),
-- the data a neural sampler's warm start (tp.train, pretrain =) fits.
function MetaD:harvested()
  local parts, B, n = self._harvest or {}, self.B, self.model.n
  local x = new_u8(math.max(1, #parts * B * n))
  for i, a in ipairs(parts) do ffi.copy(x + (i - 1) * B * n, a, B * n) end
  return { x = x, n = #parts * B, sites = n }
end

-- Frozen-bias sampling: `samples` states per chain `every` sweeps apart
-- under E + V; returns { s = double* (samples*B, dim), logw = double* (beta V),
-- energy = double*, n = samples*B } in (sample, chain) order.
function MetaD:frozen(o)
  o = util.options("metad:frozen", o, {
    samples = { type = "integer", required = true }, every = { type = "integer", default = 1 },
    burn_in = { type = "integer", default = 0 },
  })
  local ch, B, n, dim = self.chains, self.chains.B, self.model.n, self.cv.dim
  local N = o.samples * B
  local S, LW, E = new_f64(N * dim), new_f64(N), new_f64(N)
  if o.burn_in > 0 then ch:biased(self.cv, self.bias, self.beta, o.burn_in * n) end
  for t = 0, o.samples - 1 do
    ch:biased(self.cv, self.bias, self.beta, o.every * n, S + t * B * dim)
    ch:energies(E + t * B)
  end
  if self.ranks > 1 then
    -- every rank's (sample, chain) blocks into (sample, global chain) order
    local mpi = require "tempera.mpi"
    local T, Bt = o.samples, self.B
    -- rank r holds its count_r chains' T samples, (sample, its chain) order:
    -- count_r rows of T * w values, gathered rank after rank
    local function regroup(a, w)
      local all = mpi.gather_rows(a, Bt, T * w)
      local out, at = new_f64(T * Bt * w), 0
      for r = 0, self.ranks - 1 do
        local first, count = mpi.split(Bt, r, self.ranks)
        for t = 0, T - 1 do
          ffi.copy(out + (t * Bt + first) * w, all + at, count * w * 8)
          at = at + count * w
        end
      end
      return out
    end
    S, E = regroup(S, dim), regroup(E, 1)
    B, N = Bt, T * Bt
    LW = new_f64(N)
  end
  self.bias:log_weights(S, N, self.beta, LW)
  -- sample t * B + b is chain b's t-th
  return { s = S, logw = LW, energy = E, n = N, dim = dim, chains = B }
end

-- Reweighted marginal of the CV on the bias grid from frozen samples fr:
-- { p = Lua list (size), pmf = list (-kT log p, math.huge where p = 0), ness = ...,
--   p_err, pmf_err = standard errors from the spread of the chains' own marginals }
function MetaD:marginal(fr)
  local size, dim = self.bias.size, self.cv.dim
  local p = {}
  for i = 1, size do p[i] = 0 end
  local mx = -math.huge
  for i = 0, fr.n - 1 do if fr.logw[i] > mx then mx = fr.logw[i] end end
  local tot, tot2 = 0, 0
  local sv = ffi.new("double[?]", dim)
  -- per chain as well (fr.chains, sample t * B + b is chain b's): the
  -- spread of the chains' marginals is the error bar
  local B = fr.chains or 1
  local pc, tc = {}, {}
  if B >= 2 then for b = 1, B do pc[b], tc[b] = {}, 0 end end
  for i = 0, fr.n - 1 do
    local w = math.exp(fr.logw[i] - mx)
    for k = 0, dim - 1 do sv[k] = fr.s[i * dim + k] end
    local g = tonumber(C.tp_bias_index(self.bias.c, sv)) + 1
    p[g] = p[g] + w
    tot, tot2 = tot + w, tot2 + w * w
    if B >= 2 then
      local b = i % B + 1
      pc[b][g] = (pc[b][g] or 0) + w
      tc[b] = tc[b] + w
    end
  end
  local pmf = {}
  for i = 1, size do
    p[i] = p[i] / tot
    pmf[i] = p[i] > 0 and -math.log(p[i]) / self.beta or math.huge
  end
  local mn = math.huge
  for i = 1, size do if pmf[i] < mn then mn = pmf[i] end end
  for i = 1, size do pmf[i] = pmf[i] - mn end
  local res = { p = p, pmf = pmf, ness = tot * tot / (tot2 * fr.n) }
  if B >= 2 then
    -- standard error of P over the B chains' own reweighted marginals, and
    -- of the PMF by the delta rule (kT dP / P; infinite where P = 0)
    res.p_err, res.pmf_err = {}, {}
    for i = 1, size do
      local s1, s2, used = 0, 0, 0
      for b = 1, B do
        if tc[b] > 0 then
          local v = (pc[b][i] or 0) / tc[b]
          s1, s2, used = s1 + v, s2 + v * v, used + 1
        end
      end
      local se = used > 1 and math.sqrt(math.max(0, s2 / used - (s1 / used) ^ 2) / (used - 1)) or 0 / 0
      res.p_err[i] = se
      res.pmf_err[i] = p[i] > 0 and se / p[i] / self.beta or math.huge
    end
  end
  return res
end

function MetaD:__tostring()
  return string.format("tp.mc.metad(%d chains%s, %d cycles, %s)", self.B,
    self.ranks > 1 and string.format(" over %d ranks", self.ranks) or "", self.cycle, tostring(self.bias))
end

-- ---- Wang-Landau ---------------------------------------------------------------
function M.wang_landau(o)
  o = util.options("tp.mc.wang_landau", o, {
    model = { type = "table", required = true }, emin = { type = "number", required = true },
    emax = { type = "number", required = true }, de = { type = "number", required = true },
    flatness = { type = "number", default = 0.8 }, ln_f_init = { type = "number", default = 1 },
    ln_f_final = { type = "number", default = 1e-6 }, check_every = { type = "integer", default = 100 },
    max_sweeps = { type = "integer", default = 0 }, seed = { type = "integer" },
    schedule = { type = "string", default = "halving" },
    walkers = { type = "integer", default = 4, doc = "independent walkers: the spread of their ln g is its error bar" },
  })
  local m = o.model
  util.check_arg(o.schedule == "halving" or o.schedule == "1/t",
    "tp.mc.wang_landau: schedule must be 'halving' or '1/t', got '%s'", o.schedule)
  util.check_arg(m.c, "tp.mc.wang_landau: needs a built-in model")
  util.check_arg(o.de > 0 and o.emax >= o.emin, "tp.mc.wang_landau: need de > 0 and emax >= emin")
  local nbins = math.floor((o.emax - o.emin) / o.de + 0.5) + 1
  util.check_arg(o.walkers >= 1, "tp.mc.wang_landau: walkers must be >= 1, got %d", o.walkers)
  -- independent walkers (Philox streams 0..walkers-1): each one's ln g,
  -- normalised so that sum g = q^n; their mean is the estimate and their
  -- spread its error bar
  local lg = ffi.new("double[?]", nbins)
  local runs = {}
  local r = { energies = {}, log_g = {}, log_g_err = {}, walkers = o.walkers, iterations = 0, sweeps = 0, n = m.n }
  for k = 0, nbins - 1 do r.energies[k + 1] = o.emin + k * o.de end
  for wk = 0, o.walkers - 1 do
    local wl = ffi.gc(util.check_ptr(C.tp_wl_init_walker(m.c, o.emin, o.de, nbins, default_seed(o.seed), wk)),
      C.tp_wl_free)
    util.check(C.tp_wl_set_schedule(wl, o.schedule == "1/t" and 1 or 0))
    util.check(C.tp_wl_run(wl, o.ln_f_init, o.ln_f_final, o.flatness, o.check_every, o.max_sweeps))
    util.check(C.tp_wl_log_dos(wl, lg))
    local t = {}
    for k = 0, nbins - 1 do t[k + 1] = lg[k] end
    local mx = -math.huge
    for k = 1, nbins do if t[k] > mx then mx = t[k] end end
    local s = 0
    for k = 1, nbins do if t[k] > -math.huge then s = s + math.exp(t[k] - mx) end end
    local shift = m.n * math.log(m.q) - (mx + math.log(s))
    for k = 1, nbins do t[k] = t[k] + shift end
    runs[#runs + 1] = t
    r.iterations = r.iterations + C.tp_wl_iterations(wl)
    r.sweeps = r.sweeps + tonumber(C.tp_wl_sweeps(wl))
    r.ln_f = C.tp_wl_ln_f(wl)
  end
  local W = #runs
  for k = 1, nbins do
    local s1, s2, finite = 0, 0, true
    for w = 1, W do
      local v = runs[w][k]
      if v == -math.huge then finite = false; break end
      s1, s2 = s1 + v, s2 + v * v
    end
    if finite then
      r.log_g[k] = s1 / W
      r.log_g_err[k] = W > 1 and math.sqrt(math.max(0, s2 / W - (s1 / W) ^ 2) / (W - 1)) or 0 / 0
    else
      r.log_g[k], r.log_g_err[k] = -math.huge, 0 / 0
    end
  end
  if W > 1 then
    -- renormalise the mean (sum g = q^n again)
    local mx = -math.huge
    for k = 1, nbins do if r.log_g[k] > mx then mx = r.log_g[k] end end
    local s = 0
    for k = 1, nbins do if r.log_g[k] > -math.huge then s = s + math.exp(r.log_g[k] - mx) end end
    local shift = m.n * math.log(m.q) - (mx + math.log(s))
    for k = 1, nbins do r.log_g[k] = r.log_g[k] + shift end
  end
  r.runs = runs
  -- canonical averages from g: <E>, C per site, log Z
  local function thermo(log_g, beta)
    local lw, mx2 = {}, -math.huge
    for k = 1, nbins do
      lw[k] = log_g[k] - beta * r.energies[k]
      if lw[k] > mx2 then mx2 = lw[k] end
    end
    local z, e1, e2 = 0, 0, 0
    for k = 1, nbins do
      if lw[k] > -math.huge then
        local w = math.exp(lw[k] - mx2)
        z, e1, e2 = z + w, e1 + w * r.energies[k], e2 + w * r.energies[k] ^ 2
      end
    end
    e1, e2 = e1 / z, e2 / z
    return { mean_e = e1, heat_capacity = beta * beta * (e2 - e1 * e1) / m.n, log_z = mx2 + math.log(z) }
  end
  -- canonical averages at beta from the mean ln g, with .err: the standard
  -- error of each over the walkers (NaN with one walker)
  function r.thermo(beta)
    local t = thermo(r.log_g, beta)
    t.err = {}
    for _, key in ipairs { "mean_e", "heat_capacity", "log_z" } do
      local s1, s2 = 0, 0
      for w = 1, W do
        local v = thermo(runs[w], beta)[key]
        s1, s2 = s1 + v, s2 + v * v
      end
      t.err[key] = W > 1 and math.sqrt(math.max(0, s2 / W - (s1 / W) ^ 2) / (W - 1)) or 0 / 0
    end
    return t
  end
  return r
end

util.doc(M.chains, [[
tp.mc.chains{ model = m, chains = 1, seed = tp.seed(), start = "random" | "zero" }
  B independent chains.  ch:sweep(method, beta, n) with method one of
  metropolis, heatbath, swap (canonical), swendsen_wang, wolff (one cluster per
  "sweep").  ch:energies(), ch:states() (uint8_t* (B, n)), ch:cv(cv),
  ch:biased(cv, bias, beta, attempts) (Metropolis on E + V(s)).
  Results depend only on the seed, never on the thread count.]])
util.doc(M.sample, [[
tp.mc.sample{ model =, beta =, method = "metropolis", chains = 16, burn_in = 1024,
              samples = 1000, every = 1, cv = cv, corr = false, rmax =, seed = }
  -> { energy, energy_per_site, heat_capacity, mag, cv[k], corr[r+1], acceptance }
  corr[r+1].connected (Ising) subtracts <m>^2.
  Each entry is { mean, err, tau, ... } (observables.stats); heat capacity
  error by jackknife over chains.]])
util.doc(M.metad, [[
tp.mc.metad{ model =, cv =, bias =, beta =, chains = 128, pace = 64, pace_unit = "sweep",
             cycles = N, height = W | fn(cycle, bias), sigma = s | fn, reference = pmf,
             record_every = 10, on_cycle = fn(run, cycle, s), hills = path, colvar = path }
  WT-MetaD MCMC: each cycle runs `pace` sweeps of Metropolis on E + V(s) on every
  chain, then deposits one hill per chain (B hills, in chain order).
  hills/colvar: PLUMED files written as it runs, one per walker (chain):
  HILLS.0 .. HILLS.<B-1> (plain HILLS for one chain); time in sweeps;
  'plumed sum_hills --hills HILLS.0,HILLS.1,...' rebuilds the bias.
  run.history = { {cycle, hills, rmse}, ... } (rmse vs reference, minima aligned).
  run:run(more_cycles), run:frozen{ samples =, every = } (log w = beta V),
  run:marginal(frozen) -> reweighted CV marginal on the grid.]])
util.doc(M.wang_landau, [[
tp.mc.wang_landau{ model =, emin =, emax =, de =, flatness = 0.8, ln_f_final = 1e-6,
                   check_every = 100, max_sweeps = 0, schedule = "halving" | "1/t", seed = }
  -> { energies, log_g (sum g = q^n), iterations, sweeps, thermo(beta) }]])
util.doc(M, [[
tempera.mc -- classical Monte Carlo: chains, sample, metad, wang_landau.  man tempera-mc; the method: man tempera-methods.]])

return M
