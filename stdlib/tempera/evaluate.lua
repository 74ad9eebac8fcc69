-- tempera.evaluate: one home for measuring samples (man tempera-analysis(5)).
--
--   local ev = tp.evaluate
--   local r = ev.samples(batch, { model = model, beta = 0.6, cv = m, reference = ex, L = 4 })
--   local r = ev.dump("run.tpd", { model = model, beta = 0.6, reference = ex, L = 4 })
--   local row = ev.exact_row(model, beta, { reference = ex })       -- the "exact" row
--   local ref = ev.mc_reference{ model =, beta =, cv =, points =, range = }
--   print(ev.table{ r_mdns, r_metadns, row })                        -- prints itself
--
-- A sample set is a batch of configurations with what was measured on
-- them: x (n * sites tokens), n, energy, cv (n * dim), and log-weights
-- (a sampler's batch, a dump via ev.dump, or an MC run's frozen-bias
-- samples from run:frozen, whose s are the CV values)
-- (log_rw: the likelihood weights -beta E - log q of a neural sampler;
-- logw_bias: beta V; or none).  The weighting says which log-weights the
-- estimates use ("likelihood", the default when the set has them; "bias";
-- "none"; or an array).  The reference is tp.exact's result, an
-- ev.mc_reference, or anything of that shape (grid, marginal, pmf).
-- Results hold: n, weighting, ness_lik, log_z, ness_bias, mag and mag_se
-- (Ising E|m|; Potts (q max_k c_k - 1)/(q - 1)), p_plus (unweighted
-- fraction with m > 0), corr1 and corr1_se (<s_i s_i+1>; Potts minus 1/q),
-- cv_mean, energy and energy_se, js and pmf_samples, pmf_rmse_samples
-- (reweighted CV histogram against the reference), pmf_bias and
-- pmf_rmse_bias (a bias's own PMF), and est[name] = { value, err } for
-- user observables.  Every loop over samples runs in tp.analysis's kernels
-- or the model's C code.
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}
local f64_t = util.sized("double")

-- ---- weights --------------------------------------------------------------------

-- Log-weight fields of a dump, in the order they are preferred for
-- estimates of the physical ensemble, with what each one means.  A neural
-- sampler's dump holds both logw_lik and logw_bias: the likelihood weights
-- -beta E - log q are exact for any q, the bias weights beta V only when
-- the network has learned the biased target perfectly.
M.LOGW_FIELDS = {
  { "logw_lik", "likelihood weights log w = -beta E - log q(x) (the sampler's own probability of each sample)" },
  { "log_rw", "likelihood weights log w = -beta E - log q(x)" },
  { "logw", "the dump's log-weights (field logw)" },
  { "log_w", "the dump's log-weights (field log_w)" },
  { "log_weight", "the dump's log-weights (field log_weight)" },
  { "logw_bias", "bias weights log w = beta V(s) (exact only if the samples follow the biased target)" },
  { "log_rnd", "log Radon-Nikodym weights (field log_rnd)" },
}
M.IS_LOGW = {}
for _, e in ipairs(M.LOGW_FIELDS) do M.IS_LOGW[e[1]] = e[2] end

-- a dump reader's preferred log-weight field and what it means, or nil
function M.dump_logw(d)
  for _, e in ipairs(M.LOGW_FIELDS) do if d.field_index[e[1]] then return e[1], e[2] end end
  return nil
end

local WEIGHTINGS = {
  likelihood = "likelihood weights log w = -beta E - log q(x)",
  bias = "bias weights log w = beta V(s)",
  none = "unweighted",
}

-- (log-weights or nil, words) of a set for a weighting
local function pick_weights(fname, set, weighting)
  if weighting == nil then
    if set.log_rw then return set.log_rw, WEIGHTINGS.likelihood, "likelihood" end
    if set.logw then return set.logw, set.logw_what or "the set's log-weights", "given" end
    return nil, WEIGHTINGS.none, "none"
  end
  if type(weighting) == "cdata" or type(weighting) == "table" then return weighting, "the given log-weights", "given" end
  if weighting == "likelihood" then
    util.check_arg(set.log_rw, "%s: weights = 'likelihood' needs the set's log_rw (a neural sampler's batch)", fname)
    return set.log_rw, WEIGHTINGS.likelihood, weighting
  elseif weighting == "bias" then
    util.check_arg(set.logw_bias, "%s: weights = 'bias' needs the set's logw_bias (samples drawn with a bias)", fname)
    return set.logw_bias, WEIGHTINGS.bias, weighting
  elseif weighting == "none" then
    return nil, WEIGHTINGS.none, weighting
  end
  util.raise("%s: weights must be 'likelihood', 'bias', 'none' or an array of log-weights, got %s", fname,
    tostring(weighting))
end

-- ---- per-sample observables ----------------------------------------------------------

-- Potts magnetisation per sample: (q max_k c_k - 1)/(q - 1)
local function potts_mag(x, n, N, q)
  local mg, cnt = f64_t(n), ffi.new("int32_t[?]", n * q)
  util.check(C.tp_obs_token_counts(cnt, x, n, N, q))
  for i = 0, n - 1 do
    local mx = 0
    for k = 0, q - 1 do if cnt[i * q + k] > mx then mx = cnt[i * q + k] end end
    mg[i] = (q * mx / N - 1) / (q - 1)
  end
  return mg
end
M.potts_mag = potts_mag

-- Mag. per sample from the configurations: |m| for q = 2 (Ising), else the
-- Potts order (q max_k c_k - 1)/(q - 1)
function M.mag_values(x, n, N, q)
  if q ~= 2 then return potts_mag(x, n, N, q) end
  local cnt = ffi.new("int32_t[?]", n * 2)
  util.check(C.tp_obs_token_counts(cnt, x, n, N, 2))
  local v = f64_t(n)
  for i = 0, n - 1 do v[i] = math.abs(2 * cnt[2 * i + 1] / N - 1) end
  return v
end

-- bonds per site of a single-shell square/cubic lattice model with one
-- coupling and no field (the per-sample bond average is -E / (bonds N J)),
-- or nil
local function bond_form(model)
  if not model or (model.kind ~= "ising" and model.kind ~= "potts") then return nil end
  if not model.J or #model.J ~= 1 or model.h ~= 0 then return nil end
  return 2, model.J[1]
end

-- ---- the measuring core ---------------------------------------------------------------

local SAMPLE_OPTS = {
  model = { type = "table", doc = "the model the samples are of (Mag., Corr.)" },
  beta = { type = "number", doc = "inverse temperature (PMF in energy units: kT = 1/beta)" },
  cv = { type = "table", doc = "the CV the set's cv values are of (default: none)" },
  weights = { type = "any", doc = "'likelihood' (default when the set has log_rw), 'bias', 'none' or log-weights" },
  reference = { type = "table", doc = "tp.exact result, ev.mc_reference, or { grid =, marginal =, pmf = }" },
  L = { type = "integer", doc = "side of an L x L lattice: the two-point correlation Corr." },
  bias = { type = "any", doc = "a tp.bias.grid whose own PMF is compared with the reference" },
  bootstrap = { type = "integer", default = 200, doc = "bootstrap replicates for the standard errors (0: none)" },
  seed = { type = "integer", doc = "bootstrap seed" },
  observables = { type = "table", doc = "{ 'energy', 'abs_m', ..., name = function(x, i, sites) -> number }" },
  biased = { type = "boolean", doc = "the samples were drawn with a bias: NESS of the bias weights (default: the set has logw_bias)" },
}

-- r = ev.samples(set, { model =, beta =, cv =, weights =, reference =, L =, bias =, bootstrap =, seed = })
function M.samples(set, opts)
  local fname = "tp.evaluate.samples"
  util.check_arg(type(set) == "table" and type(set.n) == "number", "%s: expects a sample set { x =, n =, ... }", fname)
  local o = util.options(fname, opts, SAMPLE_OPTS)
  if set.cv == nil and set.s ~= nil then
    -- an MC run's frozen-bias samples (run:frozen: s, logw = beta V, energy)
    set = setmetatable({ cv = set.s }, { __index = set })
  end
  local A = require "tempera.analysis"
  local n, model, cv, beta = set.n, o.model, o.cv, o.beta
  util.check_arg(n >= 1, "%s: the set holds no samples", fname)
  local seed = o.seed or require("tempera.run").seed()
  local lw, words, kind = pick_weights(fname, set, o.weights)
  local res = { n = n, weighting = kind, weighting_text = words }
  local boot = { bootstrap = o.bootstrap, seed = seed }
  if set.log_rw then
    local wl = A.weights(set.log_rw, n)
    res.ness_lik, res.log_z = wl.ness, wl.log_z
  end
  local biased = o.biased
  if biased == nil then biased = set.logw_bias ~= nil end
  if biased and set.logw_bias then res.ness_bias = A.weights(set.logw_bias, n).ness end
  if lw and kind ~= "likelihood" then res.ness = A.weights(lw, n).ness end
  local sites = set.sites or (model and model.n)
  local q = set.states or (model and model.q)
  -- Mag.: Ising E|m| from the magnetisation CV; Potts from the colour counts
  if q == 2 and cv and cv.name == "magnetization" and set.cv then
    local am = f64_t(n)
    for i = 0, n - 1 do am[i] = math.abs(set.cv[i]) end
    res.mag, res.mag_se = A.mean(am, lw, n, boot)
    -- unweighted fraction of samples with m > 0: whether the sampler itself
    -- visits both signs (0 or 1 when it collapsed onto one)
    local plus = 0
    for i = 0, n - 1 do if set.cv[i] > 0 then plus = plus + 1 end end
    res.p_plus = plus / n
  end
  if model and model.kind == "potts" and set.x then
    res.mag, res.mag_se = A.mean(potts_mag(set.x, n, sites, q), lw, n, boot)
  end
  if o.L and set.x then
    local c = A.corr{ L = o.L, q = q }
    c:add(set.x, lw, n)
    local r = c:result()
    res.corr1 = r.g[2]
    local bonds, J = bond_form(model)
    if bonds and o.bootstrap > 0 and set.energy then
      -- standard error of Corr. by the bootstrap of the per-sample bond
      -- average, which is -E / (2 N J) (minus 1/q for Potts) on the square
      -- lattice with one coupling and no field
      local cb = f64_t(n)
      for i = 0, n - 1 do cb[i] = -set.energy[i] / (bonds * sites * J) end
      res.corr1_se = select(2, A.mean(cb, lw, n, boot))
    end
  end
  -- observables asked for by name (built-in) or as functions of a sample
  for key, f in pairs(o.observables or {}) do
    local name, v = key, nil
    if type(key) == "number" then
      name = f
      util.check_arg(type(name) == "string", "%s: observables: a built-in name (energy, energy_per_site, abs_m, cv) "
        .. "or name = function(x, i, sites)", fname)
      if name == "energy" or name == "energy_per_site" then
        util.check_arg(set.energy, "%s: the set has no energies", fname)
        v = set.energy
        if name == "energy_per_site" then
          v = f64_t(n)
          for i = 0, n - 1 do v[i] = set.energy[i] / sites end
        end
      elseif name == "cv" or name == "abs_m" then
        util.check_arg(set.cv and (set.dim or 1) == 1, "%s: '%s' needs the set's 1-D CV values", fname, name)
        v = set.cv
        if name == "abs_m" then
          v = f64_t(n)
          for i = 0, n - 1 do v[i] = math.abs(set.cv[i]) end
        end
      else
        util.raise("%s: no built-in observable '%s' (energy, energy_per_site, abs_m, cv)", fname, name)
      end
    else
      util.check_arg(type(f) == "function", "%s: observable '%s' must be a function(x, i, sites)", fname, tostring(name))
      util.check_arg(set.x, "%s: observable '%s' needs the set's configurations", fname, tostring(name))
      v = f64_t(n)
      for i = 0, n - 1 do
        local y = f(set.x, i, sites)
        util.check_arg(type(y) == "number", "%s: observable '%s' returned %s for sample %d", fname, tostring(name),
          type(y), i)
        v[i] = y
      end
    end
    res.est = res.est or {}
    local m, e = A.mean(v, lw, n, boot)
    res.est[name] = { value = m, err = e }
  end
  local ref, bias = o.reference, o.bias
  if ref and cv and cv.dim == 1 and ref.marginal and set.cv then
    local g = ref.grid[1]
    local G = #g
    local step = (g[G] - g[1]) / (G - 1)
    local hl = A.hist{ range = { g[1], g[G] }, step = step }
    hl:add(set.cv, lw, n)
    res.js = A.js(hl:counts(), ref.marginal)
    res.pmf_samples = hl:pmf(1 / beta)
    local Fx = {}
    for i = 1, G do Fx[i] = ref.pmf[i] end
    -- nil when the samples and the reference share no finite grid point
    -- (a collapsed sampler against a reference that never visits its mode)
    local ok, v = pcall(A.pmf_rmse, res.pmf_samples, Fx)
    res.pmf_rmse_samples = ok and v or nil
    if bias and bias.size == G then
      local Fb = bias:pmf()
      local fb = {}
      for i = 1, G do fb[i] = Fb[i - 1] end
      res.pmf_bias = fb
      local okb, vb = pcall(A.pmf_rmse, fb, Fx)
      res.pmf_rmse_bias = okb and vb or nil
    end
  end
  if ref and cv and cv.dim == 2 and ref.marginal and ref.grid and #ref.grid == 2 and set.cv then
    -- 2-D CV (Potts simplex): histogram on the reference grid (nearest grid
    -- point, last dimension fastest, as tp.exact), JS and PMF RMSE
    local g1, g2 = ref.grid[1], ref.grid[2]
    local G1, G2 = #g1, #g2
    local d1, d2 = (g1[G1] - g1[1]) / (G1 - 1), (g2[G2] - g2[1]) / (G2 - 1)
    local h = A.hist2d{ range = { { g1[1] - d1 / 2, g1[G1] + d1 / 2 }, { g2[1] - d2 / 2, g2[G2] + d2 / 2 } },
      bins = { G1, G2 } }
    h:add(set.cv, lw, n)
    local t, flat = h:counts(), {}
    for i = 1, G1 do for j = 1, G2 do flat[#flat + 1] = t[i][j] end end
    res.js = A.js(flat, ref.marginal)
    res.pmf_samples = A.pmf(flat, 1 / beta)
    local ok, v = pcall(A.pmf_rmse, res.pmf_samples, ref.pmf)
    res.pmf_rmse_samples = ok and v or nil
    if bias and bias.size == G1 * G2 then
      local Fb = bias:pmf()
      local fb = {}
      for i = 1, bias.size do fb[i] = Fb[i - 1] end
      res.pmf_bias = fb
      local okb, vb = pcall(A.pmf_rmse, fb, ref.pmf)
      res.pmf_rmse_bias = okb and vb or nil
    end
  end
  res.samples = set
  return res
end

-- ev.dump(path, opts) -> r: the same measurements on a dump's records
-- (configurations, energy, cv and the log-weights it holds, preferring the
-- likelihood weights; see M.LOGW_FIELDS), or nil, message if it cannot be
-- read.  opts as ev.samples; the dump's damage, if any, is r.damage.
function M.dump(path, opts)
  util.check_arg(type(path) == "string", "tp.evaluate.dump: path must be a string")
  local d, err = require("tempera.dump").read(path)
  if not d then return nil, err end
  local names, cfg = {}, nil
  for _, f in ipairs(d.fields) do
    if f.type == "config" and not cfg then cfg = f.name; names[#names + 1] = f.name end
  end
  local has = d.field_index
  if has.energy then names[#names + 1] = "energy" end
  if has.cv then names[#names + 1] = "cv" end
  for _, e in ipairs(M.LOGW_FIELDS) do if has[e[1]] then names[#names + 1] = e[1] end end
  local t, damage = d:load(names)
  local lwf, lw_what = M.dump_logw(d)
  d:close()
  local set = { n = t.n, x = cfg and t[cfg], energy = t.energy, cv = t.cv, log_rw = t.logw_lik or t.log_rw,
    logw_bias = t.logw_bias, logw = lwf and t[lwf], logw_what = lw_what }
  if set.x and has[cfg] then set.sites, set.states = has[cfg].width, has[cfg].states end
  local r = M.samples(set, opts)
  r.damage, r.path = damage, path
  return r
end

-- ev.write_dump(path, set, model) -> path: the set's configurations (with
-- the lattice's shape when it has one site per cell, so 'tempera dump head'
-- can draw them), energy, cv, logq and both log-weights (logw_lik,
-- logw_bias) as a dump that ev.dump and 'tempera report' read back.
function M.write_dump(path, set, model)
  local lat, shape = model.lattice, nil
  if lat and lat.nbasis == 1 and lat.dim >= 2 then
    shape = {}
    for k = lat.dim - 1, 0, -1 do shape[#shape + 1] = lat.size[k] end
  end
  local n = set.n
  local w = require("tempera.dump").open(path, { lattice = lat, model = model, fields = {
    { name = "config", type = "config", states = model.q, width = not shape and set.sites or nil, shape = shape },
    { name = "energy", type = "f64" }, { name = "cv", type = "f64", width = set.dim or 1 },
    { name = "logq", type = "f64" }, { name = "logw_lik", type = "f64" }, { name = "logw_bias", type = "f64" } } })
  w:append_batch(n, { config = set.x, energy = set.energy, cv = set.cv or f64_t(n), logq = set.logq,
    logw_lik = set.log_rw, logw_bias = set.logw_bias })
  w:close()
  return path
end

-- ---- sample sets and reference sets (tp.report's and the recipes') -------------------

local u8_t = util.sized("uint8_t")

-- the sample set: configurations, energies and the log-weights of 'mode'
local function sample_set(fname, b, mode, model, beta)
  util.check_arg(type(b) == "table" and b.x ~= nil and type(b.n) == "number" and b.n >= 1,
    "%s: samples must be a batch with x and n >= 1 (as sampler:sample returns)", fname)
  util.check_arg(b.sites == nil or b.sites == model.n, "%s: the batch has %d sites but the model %d", fname,
    b.sites or -1, model.n)
  local n = b.n
  local E = b.energy or model:energies(b.x, n)
  local logw, what
  if mode == "likelihood" then
    if b.log_rw and (b.beta == nil or b.beta == beta) then
      logw, what = b.log_rw, "log w = -beta E - log p (the batch's log_rw)"
    elseif b.logq then
      logw, what = f64_t(n), "log w = -beta E - log p"
      for i = 0, n - 1 do logw[i] = -beta * E[i] - b.logq[i] end
    else
      util.raise("%s: reweight = 'likelihood' needs the batch's log_rw or logq", fname)
    end
  elseif mode == "bias" then
    if b.logw_bias then
      logw, what = b.logw_bias, "log w = beta V (the batch's logw_bias)"
    elseif b.v then
      logw, what = f64_t(n), "log w = beta V"
      for i = 0, n - 1 do logw[i] = beta * b.v[i] end
    else
      util.raise("%s: reweight = 'bias' needs the batch's logw_bias (sample with a bias)", fname)
    end
  elseif mode == "none" then
    what = "unit weights (samples taken as drawn from the target)"
  else
    util.raise("%s: reweight must be 'likelihood', 'bias' or 'none', got '%s'", fname, tostring(mode))
  end
  return { name = "sample", x = b.x, n = n, energy = E, logw = logw, block = 1, weights = what }
end

-- every configuration of a small model, weighted exp(-beta E)
local function exact_set(fname, model, beta, ro)
  local q, N = model.q, model.n
  local S, max = q ^ N, ro.max_states or 2 ^ 20
  if S > max then
    util.raise("%s: reference 'exact' would enumerate %d^%d = %.0f configurations, more than max_states = %.0f; " ..
      "use reference = 'swendsen_wang' (Ising, Potts), a batch or a dump of reference samples", fname, q, N, S, max)
  end
  local x = u8_t(S * N)
  util.check(C.tp_exact_configs(q, N, x, 0, S))   -- site 0 fastest
  local E = model:energies(x, S)
  local logw = f64_t(S)
  util.check(C.tp_rw_scale(logw, E, -beta, S))
  return { name = "exact", x = x, n = S, energy = E, logw = logw, block = 1, exact = true,
    what = string.format("exact enumeration of %d configurations, weights exp(-beta E)", S) }
end

-- Swendsen-Wang chains at beta; rows in chain-major order (block bootstrap
-- over consecutive samples of one chain)
local function sw_set(fname, model, beta, ro)
  util.check_arg(model.kind == "ising" or model.kind == "potts",
    "%s: reference 'swendsen_wang' needs an Ising or Potts model (this one is '%s'); give a batch or a dump instead",
    fname, tostring(model.kind))
  local N = model.n
  local chains = ro.chains or 16
  local burn = ro.burn_in or math.max(200, 20 * math.ceil(math.sqrt(N)))
  local T = ro.samples or 1024
  local every = ro.every or 1
  util.check_arg(chains >= 1 and T >= 2 and every >= 1 and burn >= 0, "%s: reference_opts: need chains >= 1, samples >= 2, every >= 1", fname)
  local ch = require("tempera.mc").chains{ model = model, chains = chains, seed = ro.seed or 1 }
  if burn > 0 then ch:sweep("swendsen_wang", beta, burn) end
  local x = u8_t(chains * T * N)
  for t = 0, T - 1 do
    ch:sweep("swendsen_wang", beta, every)
    local st = ch:states()
    for b = 0, chains - 1 do ffi.copy(x + (b * T + t) * N, st + b * N, N) end
  end
  local n = chains * T
  return { name = "swendsen_wang", x = x, n = n, energy = model:energies(x, n), block = ro.block or 16,
    what = string.format("Swendsen-Wang: %d chains x %d samples, %d sweep(s) apart, after %d sweeps (block bootstrap, blocks of %d)",
      chains, T, every, burn, ro.block or 16) }
end

-- a batch or a dump of reference samples, used as given (unit weights, or
-- exp(logw) when it has a logw field)
local function given_set(fname, ref, model)
  local N = model.n
  if type(ref) == "string" then
    local d, err = require("tempera.dump").read(ref)
    if not d then util.raise("%s: reference dump: %s", fname, tostring(err)) end
    local cf
    for _, f in ipairs(d.fields) do if f.type == "config" and f.width == N then cf = f; break end end
    util.check_arg(cf, "%s: reference dump %s has no configuration field with %d sites", fname, ref, N)
    local names = { cf.name }
    local lw, lw_what = M.dump_logw(d)   -- the same weighting rule as the dump report
    if lw then names[2] = lw end
    local t = d:load(names)
    d:close()
    util.check_arg(t.n >= 1, "%s: reference dump %s holds no records", fname, ref)
    return { name = "dump", x = t[cf.name], n = t.n, energy = model:energies(t[cf.name], t.n), logw = lw and t[lw],
      block = 1, what = string.format("dump %s (%d records%s)", ref, t.n, lw and (", " .. lw_what) or "") }
  end
  util.check_arg(type(ref) == "table" and ref.x ~= nil and type(ref.n) == "number" and ref.n >= 1,
    "%s: reference must be 'exact', 'swendsen_wang', 'none', a batch (x, n) or a dump path", fname)
  return { name = "batch", x = ref.x, n = ref.n, energy = ref.energy or model:energies(ref.x, ref.n), logw = ref.logw,
    block = ref.block or 1, what = string.format("given batch of %d samples%s", ref.n, ref.logw and ", weights exp(logw)" or "") }
end

-- set = ev.sample_set(batch, weighting, model, beta): a batch's configurations,
-- energies and the log-weights of 'likelihood' (log_rw, or -beta E - log q
-- from logq), 'bias' (logw_bias, or beta V) or 'none', with the weighting
-- in words (set.weights)
function M.sample_set(b, mode, model, beta, fname)
  return sample_set(fname or "tp.evaluate.sample_set", b, mode, model, beta)
end

-- set = ev.reference_set(ref, model, beta [, opts]): reference samples --
-- "exact" (every configuration, weights exp(-beta E); opts.max_states),
-- "swendsen_wang" (chains with opts.chains, burn_in, samples, every, seed,
-- block: rows chain-major for a block bootstrap), a batch, or a dump path
-- (its log-weights by the dump rule above); set.what says which
function M.reference_set(ref, model, beta, ro, fname)
  fname = fname or "tp.evaluate.reference_set"
  ro = ro or {}
  if ref == "exact" then return exact_set(fname, model, beta, ro) end
  if ref == "swendsen_wang" then return sw_set(fname, model, beta, ro) end
  return given_set(fname, ref, model)
end

-- v = ev.values(set, { kind = "energy"|"mag"|"cv", cv = }, model): the
-- per-sample values of an observable (energy per site; Mag.; a CV's first
-- component)
function M.values(set, ob, model)
  local n, N, q = set.n, model.n, model.q
  if ob.kind == "energy" then
    local v = f64_t(n)
    util.check(C.tp_rw_scale(v, set.energy, 1 / N, n))
    return v
  elseif ob.kind == "mag" then
    return M.mag_values(set.x, n, N, q)
  elseif ob.kind == "cv" then
    local raw = ob.cv:eval(set.x, n)
    if ob.cv.dim == 1 then return raw end
    local v = f64_t(n)
    for i = 0, n - 1 do v[i] = raw[i * ob.cv.dim] end
    return v
  end
end

-- ---- reference values -------------------------------------------------------------------

-- row = ev.exact_row(model, beta [, { reference = tp.exact result with the
-- model's CV, cv = }]) -> { name = "exact", log_z, energy_per_site, mag
-- (Ising: E|m| from the magnetisation marginal, and m2 = E m^2; Potts: from the exact
-- distribution of the colour counts), corr1 (Ising/Potts on the square
-- lattice, one coupling, no field: from the energy), p_plus (P(m > 0)),
-- cv_mean (1-D CV) }: the "exact" row of a summary table, computed by the
-- library instead of by hand in each recipe.
function M.exact_row(model, beta, o)
  o = o or {}
  util.check_arg(type(model) == "table" and model.n, "tp.evaluate.exact_row: expects a model")
  local ex = o.reference or require("tempera.exact")(model, beta)
  local row = { name = o.name or "exact", log_z = ex.log_z, energy_per_site = ex.energy_per_site }
  local bonds, J = bond_form(model)
  if bonds then
    row.corr1 = -ex.energy_per_site / (bonds * J)
    if model.kind == "potts" then row.corr1 = row.corr1 - 1 / model.q end
  end
  if ex.grid and #ex.grid == 1 and ex.marginal then
    local g, mean, plus = ex.grid[1], 0, 0
    for i, v in ipairs(g) do
      mean = mean + v * ex.marginal[i]
      if v > 0 then plus = plus + ex.marginal[i] end
    end
    row.cv_mean = mean
    local cv = o.cv
    if model.kind == "ising" and (cv == nil or cv.name == "magnetization") then
      local am, m2 = 0, 0
      for i, v in ipairs(g) do am, m2 = am + math.abs(v) * ex.marginal[i], m2 + v * v * ex.marginal[i] end
      row.mag, row.m2, row.p_plus = am, m2, plus
    end
  end
  if model.kind == "potts" then
    -- the exact distribution of the colour counts (one grid point per
    -- count, fractions k/N on [0, 1] in each dimension)
    local N, q = model.n, model.q
    util.check_arg(q <= 4, "tp.evaluate.exact_row: the Potts Mag. needs q <= 4 (colour-count grid)")
    local fr = require("tempera.exact")(model, beta, { cv = require("tempera.cv").fractions(model.lattice, q),
      points = N + 1, range = { 0, 1 } })
    local mag, idx, cnt = 0, 1, {}
    local function walk(k)
      if k > q then
        local p = fr.marginal[idx]
        idx = idx + 1
        if p > 0 then
          local mx = 0
          for j = 1, q do if cnt[j] > mx then mx = cnt[j] end end
          mag = mag + p * (q * mx / N - 1) / (q - 1)
        end
        return
      end
      for c = 0, N do cnt[k] = c; walk(k + 1) end
    end
    walk(1)
    row.mag = mag
  end
  return row
end

-- ref = ev.mc_reference{ model =, beta =, cv =, points =, range = {lo, hi},
--   method = "swendsen_wang", chains = 128, burn_in = 1024, samples = 1000, every = 1,
--   seed =, corr = true }: a Monte Carlo ground truth of the form of
-- tp.exact's result: grid = { {g_1..g_G} }, marginal (P of each grid point
-- from the histogram of the chains' CV), pmf (-kT log P, +inf where no
-- sample fell), and mag, corr1 (<s_i s_i+1>, Ising/Potts), p_plus
-- (fraction with CV > 0), energy_per_site, cv_mean, n (samples) and the
-- tp.mc.sample result as mc.  For systems too large to enumerate (Ising
-- 16x16: Swendsen-Wang; alloys: method = "metropolis", the semi-grand-
-- canonical flips).
function M.mc_reference(opts)
  local fname = "tp.evaluate.mc_reference"
  local o = util.options(fname, opts, {
    model = { type = "table", required = true }, beta = { type = "number", required = true },
    cv = { type = "table", required = true }, points = { type = "integer", required = true },
    range = { type = "table", required = true }, method = { type = "string", default = "swendsen_wang" },
    chains = { type = "integer", default = 128 }, burn_in = { type = "integer", default = 1024 },
    samples = { type = "integer", default = 1000 }, every = { type = "integer", default = 1 },
    seed = { type = "integer" }, corr = { type = "boolean" }, label = { type = "string" },
    progress = { type = "boolean", default = true },
  })
  util.check_arg(o.cv.dim == 1, "%s: the CV must be one-dimensional", fname)
  util.check_arg(o.points >= 2 and o.range[2] > o.range[1], "%s: points >= 2 and range = {lo, hi} with lo < hi", fname)
  local A = require "tempera.analysis"
  local corr = o.corr
  if corr == nil then corr = o.model.kind == "ising" or o.model.kind == "potts" end
  local r = require("tempera.mc").sample{ model = o.model, beta = o.beta, method = o.method, chains = o.chains,
    burn_in = o.burn_in, samples = o.samples, every = o.every, seed = o.seed, cv = o.cv, corr = corr,
    rmax = corr and 1 or nil, label = o.label or ("reference " .. o.method), progress = o.progress }
  local n = r.B * r.T
  local s = r.series.cv[1]
  local G, lo, hi = o.points, o.range[1], o.range[2]
  local g = {}
  for i = 1, G do g[i] = lo + (hi - lo) * (i - 1) / (G - 1) end
  local h = A.hist{ range = { lo, hi }, step = (hi - lo) / (G - 1) }
  h:add(s, f64_t(n), n)
  local plus, mean = 0, 0
  for i = 0, n - 1 do
    if s[i] > 0 then plus = plus + 1 end
    mean = mean + s[i]
  end
  local ref = { grid = { g }, marginal = h:counts(), pmf = h:pmf(1 / o.beta), n = n, p_plus = plus / n,
    cv_mean = mean / n, energy_per_site = r.energy_per_site.mean, mc = r, method = o.method }
  if r.mag then ref.mag, ref.mag_se = r.mag.mean, r.mag.err end
  if corr and r.corr then ref.corr1, ref.corr1_se = r.corr[2].mean, r.corr[2].err end
  return ref
end

-- ---- the summary table --------------------------------------------------------------------

-- t = ev.table(rows [, { extra = { { key =, head =, fmt = }, ... } }]) prints
-- itself (tostring(t), print(t)): rows = { { name =, mag =, corr1 =,
-- ness_lik =, ness_bias =, js =, pmf_rmse_bias = (or pmf_rmse_samples),
-- p_plus =, log_z =, s_step = }, ... } -- ev.samples results and
-- ev.exact_row rows as they are.  The columns P(m>0), log Z-hat and s/step
-- (wall seconds per training step) appear when some row has them, then the
-- extra columns (fmt: a string.format pattern).  "-" marks what a row does
-- not have.
local OPTIONAL = { { key = "p_plus", head = "P(m>0)", fmt = "%.3f" }, { key = "log_z", head = "log Z-hat", fmt = "%.4f" },
  { key = "s_step", head = "s/step", fmt = "%.3f" } }

local function render(rows, opts)
  local function f(v, fmt) return v and string.format(fmt, v) or "-" end
  local cols = {}
  for _, c in ipairs(OPTIONAL) do
    for _, r in ipairs(rows) do if r[c.key] then cols[#cols + 1] = c; break end end
  end
  for _, c in ipairs(opts and opts.extra or {}) do cols[#cols + 1] = c end
  local head = string.format("%-14s %8s %8s %8s %8s %10s %10s", "method", "Mag.", "Corr.", "NESS", "NESS_V",
    "JS", "PMF RMSE")
  for _, c in ipairs(cols) do head = head .. string.format(" %10s", c.head) end
  local lines = { head }
  for _, r in ipairs(rows) do
    local l = string.format("%-14s %8s %8s %8s %8s %10s %10s", r.name or "?", f(r.mag, "%.4f"),
      f(r.corr1, "%.4f"), f(r.ness_lik, "%.3f"), f(r.ness_bias, "%.3f"), f(r.js, "%.2e"),
      f(r.pmf_rmse_bias or r.pmf_rmse_samples, "%.3f"))
    for _, c in ipairs(cols) do l = l .. string.format(" %10s", f(r[c.key], c.fmt or "%.4g")) end
    lines[#lines + 1] = l
  end
  return table.concat(lines, "\n")
end

local Table = {}
Table.__index = Table
Table.__tostring = function(t) return render(t.rows, t.opts) end
function Table:add(row) self.rows[#self.rows + 1] = row; return self end

function M.table(rows, opts)
  util.check_arg(type(rows) == "table", "tp.evaluate.table: expects a list of rows")
  return setmetatable({ rows = rows, opts = opts }, Table)
end

-- the same table as a string
function M.summary_table(rows, opts) return render(rows, opts) end

util.doc(M, [[
tp.evaluate -- measuring samples, in one place (man tempera-analysis; the method: tempera-methods).
  tp.evaluate.samples(set, { model =, beta =, cv =, weights = "likelihood"|"bias"|"none"|logw,
                             reference =, L =, bias =, bootstrap = 200, seed =,
                             observables = { name = function(x, i, sites) } }) -> r
  tp.evaluate.dump(path, { ... as samples }) -> r (or nil, message)
  tp.evaluate.exact_row(model, beta [, { reference = tp.exact result }]) -> the "exact" row
  tp.evaluate.mc_reference{ model =, beta =, cv =, points =, range =, method = "swendsen_wang",
                            chains = 128, burn_in = 1024, samples = 1000 } -> reference
  tp.evaluate.table(rows [, { extra = { { key =, head =, fmt = } } }]) -> prints itself
  r: n, weighting, ness_lik, log_z, ness_bias, mag, mag_se, p_plus, corr1, corr1_se, js,
     pmf_samples, pmf_rmse_samples, pmf_bias, pmf_rmse_bias, est[name] = { value, err }]])

return M
