-- tempera.report.samples: tp.report{ samples = ... }, a report on a batch
-- of samples against a reference.
local F = require "tempera.ffi"
local util = require "tempera.util"
local A = require "tempera.analysis"
local plot = require "tempera.plot"
local C, ffi = F.C, F.ffi
local doc = require "tempera.report.document"
local Report, fmt, safe_name = doc.Report, doc.fmt, doc.safe_name
local M = {}
local find_logw = require("tempera.evaluate").dump_logw

-- ---- a report on a batch of samples (man tempera-analysis(5)) ------------------
--
-- tp.report{ samples = batch, reweight = "likelihood" | "bias" | "none",
--            reference = "exact" | "swendsen_wang" | "none" | batch | dump path,
--            observables = { "energy", "mag", "corr", cv, ... }, model =, beta =,
--            out = dir, title = } -> path of report.md, numbers
-- Every statistic comes from tp.analysis (C kernels); see tempera-analysis(5).


-- side L of a periodic L x L square lattice (row-major sites), or nil
local function square_side(model)
  local lat = model.lattice
  if lat == nil or lat.dim ~= 2 or ffi.string(lat.kind) ~= "square" then return nil end
  local L = lat.size[0]
  if lat.size[1] ~= L or L * L ~= model.n then return nil end
  return L
end

local function nan() return 0 / 0 end

-- the sets and per-sample values are tp.evaluate's (one home for measuring)
local ev = require "tempera.evaluate"

local FINE_BINS = 1024

-- the observables list -> { { kind =, name =, cv = } ... }
local function parse_observables(fname, list, model, L)
  local out, seen = {}, {}
  for i, o in ipairs(list) do
    local ob
    if o == "energy" then ob = { kind = "energy", name = "energy", label = "E / N" }
    elseif o == "mag" then
      util.check_arg(model.kind == "ising" or model.kind == "potts", "%s: observable 'mag' is for Ising and Potts models", fname)
      ob = { kind = "mag", name = "mag", label = model.q == 2 and "|m|" or "Potts order parameter", range = { 0, 1 } }
    elseif o == "corr" then
      util.check_arg(L and (model.kind == "ising" or model.kind == "potts"),
        "%s: observable 'corr' needs an Ising or Potts model on a square lattice", fname)
      ob = { kind = "corr", name = "corr" }
    elseif type(o) == "table" and o.eval and o.dim then
      local nm = o.name or ("cv" .. i)
      if seen[nm] then nm = nm .. i end
      ob = { kind = "cv", name = nm, label = nm .. (o.dim > 1 and "[1]" or ""), cv = o,
        range = o.range and o.range[1] and { o.range[1][1], o.range[1][2] } or nil }
    else
      util.raise("%s: observables[%d] must be 'energy', 'mag', 'corr' or a tp.cv, got %s", fname, i, tostring(o))
    end
    util.check_arg(not seen[ob.name], "%s: observable '%s' is listed twice", fname, ob.name)
    seen[ob.name] = true
    out[#out + 1] = ob
  end
  return out
end

local function pick(t, keep) local r = {}; for j, i in ipairs(keep) do r[j] = t[i] end; return r end

local function hist_pair(o, ob, S, Rf, vs, vr, R)
  -- range: the CV's own, else the data's (both sets), padded a little
  local mm = ffi.new("double[2]", math.huge, -math.huge)
  util.check(C.tp_rw_minmax(mm, vs, 1, S.n))
  if Rf then util.check(C.tp_rw_minmax(mm, vr, 1, Rf.n)) end
  local lo, hi = mm[0], mm[1]
  if ob.range and ob.range[1] <= lo and ob.range[2] >= hi then
    lo, hi = ob.range[1], ob.range[2]        -- the CV's own range when the data lie in it
  else
    local pad = hi > lo and (hi - lo) * 1e-6 or 0.5
    lo, hi = lo - pad, hi + pad
  end
  local hs = A.hist{ range = { lo, hi }, bins = FINE_BINS, bootstrap = R, seed = o.seed, block = S.block,
    backend = o.backend, name = ob.name }
  hs:add(vs, S.logw, S.n)
  local hu
  if S.logw then hu = A.hist{ range = { lo, hi }, bins = FINE_BINS, backend = o.backend }; hu:add(vs, nil, S.n) end
  local hr
  if Rf then hr = A.hist{ range = { lo, hi }, bins = FINE_BINS, backend = o.backend }; hr:add(vr, Rf.logw, Rf.n) end
  -- few distinct values (small lattices): one bin per value, else o.bins
  local nz = 0
  for k = 0, FINE_BINS - 1 do
    if hs.h[k] > 0 or (hr and hr.h[k] > 0) or (hu and hu.h[k] > 0) then nz = nz + 1 end
  end
  if nz > 64 then
    local k = FINE_BINS / 2 ^ math.floor(math.log(o.bins) / math.log(2) + 0.5)
    hs = hs:rebin(k)
    if hu then hu = hu:rebin(k) end
    if hr then hr = hr:rebin(k) end
  end
  return hs, hu, hr, lo, hi
end

function M.samples(o)
  local fname = "tp.report"
  o = util.options(fname, o, {
    samples = { type = "table", required = true, doc = "a batch (sampler:sample; trainer:evaluate's result or its .samples)" },
    reweight = { type = "string", default = "likelihood", doc = "'likelihood', 'bias' or 'none'" },
    reference = { type = "any", doc = "'exact', 'swendsen_wang', 'none', a batch or a dump path" },
    reference_opts = { type = "table", default = {}, doc = "exact: max_states; swendsen_wang: chains, burn_in, samples, every, seed, block" },
    observables = { type = "table" }, model = { type = "table" }, beta = { type = "number" },
    sampler = { type = "table", doc = "the sampler: default model, beta" },
    out = { type = "string", required = true }, title = { type = "string", default = "tempera report" },
    bins = { type = "integer", default = 32 }, bootstrap = { type = "integer", default = 100 },
    seed = { type = "integer", default = 1 }, groups = { type = "integer", default = 10 },
    backend = { type = "string" }, text = { type = "string" }, meta = { type = "table" },
  })
  local b = o.samples
  if b.x == nil and type(b.samples) == "table" then b = b.samples end   -- trainer:evaluate's result
  local model = o.model or (o.sampler and o.sampler.model) or b.model
  util.check_arg(type(model) == "table" and model.energies and model.n and model.q,
    "%s: give model = (the batch does not carry one)", fname)
  local beta = o.beta or b.beta or (o.sampler and o.sampler.beta)
  util.check_arg(type(beta) == "number" and beta > 0, "%s: give beta = (a positive number)", fname)
  util.check_arg(o.bootstrap == 0 or o.bootstrap >= 2, "%s: bootstrap must be 0 or >= 2", fname)
  util.check_arg(o.groups >= 2, "%s: groups must be >= 2", fname)
  local L = square_side(model)
  local S = ev.sample_set(b, o.reweight, model, beta, fname)
  local ref = o.reference
  if ref == nil then
    ref = (model.q ^ model.n <= (o.reference_opts.max_states or 2 ^ 20)) and "exact"
      or ((model.kind == "ising" or model.kind == "potts") and "swendsen_wang" or "none")
  end
  local Rf
  if ref ~= "none" then Rf = ev.reference_set(ref, model, beta, o.reference_opts, fname) end
  local obs_list = o.observables
  if obs_list == nil then
    obs_list = { "energy" }
    if model.kind == "ising" or model.kind == "potts" then
      obs_list[#obs_list + 1] = "mag"
      if L then obs_list[#obs_list + 1] = "corr" end
    end
    if o.sampler and o.sampler.cv then obs_list[#obs_list + 1] = o.sampler.cv end
  end
  local obs = parse_observables(fname, obs_list, model, L)
  local kT, R = 1 / beta, o.bootstrap

  local W = A.stats{ backend = o.backend }     -- (a backend error comes before any file is written)
  W:add(nil, S.logw, S.n)
  local ws = W:summary()
  local rep = doc.new{ out = o.out, title = o.title }
  if o.text then rep:text(o.text) end
  local numbers = { n = S.n, reweight = o.reweight, reference = type(ref) == "string" and ref or "given",
    beta = beta, ness = ws.ness, ess = ws.ess, log_z = S.logw and ws.log_z or nil, observables = {}, order = {}, pictures = {} }
  rep:section("Samples and reference")
  local meta = { { "model", tostring(model) }, { "beta", beta }, { "samples", S.n }, { "reweighting", o.reweight },
    { "weights", S.weights }, { "NESS", ws.ness }, { "ESS", ws.ess } }
  if S.logw then meta[#meta + 1] = { "log Z-hat (sample weights)", ws.log_z } end
  meta[#meta + 1] = { "reference", Rf and Rf.what or "none" }
  meta[#meta + 1] = { "error bars", R > 0 and string.format("Poisson bootstrap, %d replicates (seed %d); correlations: spread of %d groups", R, o.seed, o.groups) or "none" }
  for _, kv in ipairs(o.meta or {}) do meta[#meta + 1] = kv end
  rep:meta(meta)

  local rows, figures = {}, {}
  local function fig(path, caption, note)
    figures[#figures + 1] = { path, caption, note }
    if path then numbers.pictures[#numbers.pictures + 1] = path end
  end
  for _, ob in ipairs(obs) do
    if ob.kind ~= "corr" then
      local vs = ev.values(S, ob, model)
      local vr = Rf and ev.values(Rf, ob, model)
      local st = A.stats{ bootstrap = R, seed = o.seed, block = S.block, backend = o.backend }
      st:add(vs, S.logw, S.n)
      local ss = st:summary()
      local r = { estimate = ss.mean, err = ss.err and ss.err.mean or nan(), label = ob.label }
      if Rf then
        local rs = A.stats{ bootstrap = Rf.exact and 0 or R, seed = o.seed + 1, block = Rf.block, backend = o.backend }
        rs:add(vr, Rf.logw, Rf.n)
        local t = rs:summary()
        r.reference, r.ref_err = t.mean, Rf.exact and 0 or (t.err and t.err.mean or nan())
        local e = math.sqrt(r.err ^ 2 + r.ref_err ^ 2)
        r.z = e > 0 and (r.estimate - r.reference) / e or nan()
      end
      local hs, hu, hr, lo, hi = hist_pair(o, ob, S, Rf, vs, vr, R)
      r.range, r.bins = { lo, hi }, hs.bins
      local Fs, dFs = hs:pmf(kT)
      if hr then
        r.js = A.js(hs, hr, { backend = o.backend })
        local Fr = hr:pmf(kT)
        local ok, rm, used = pcall(A.pmf_rmse, Fs, Fr, { backend = o.backend })
        if ok then r.pmf_rmse, r.pmf_bins = rm, used else r.pmf_rmse = nan() end
        r.F_ref = Fr
      end
      r.F, r.dF = Fs, dFs
      numbers.observables[ob.name] = r
      numbers.order[#numbers.order + 1] = ob.name
      rows[#rows + 1] = { ob.label, r.estimate, r.err, r.reference or "", r.ref_err or "", r.z or "", r.js or "", r.pmf_rmse or "" }
      -- pictures: histogram overlay, and the PMF for order parameters and CVs
      local x = hs:centers()
      local ys, labels = { hs:counts() }, { S.logw and "sample, reweighted" or "sample" }
      if hu then ys[#ys + 1], labels[#labels + 1] = hu:counts(), "sample, as drawn" end
      if hr then ys[#ys + 1], labels[#labels + 1] = hr:counts(), "reference" end
      local keep = {}
      for i = 1, #x do
        local any = false
        for _, y in ipairs(ys) do if y[i] > 0 then any = true end end
        if any then keep[#keep + 1] = i end
      end
      if #keep >= 1 then
        local px = pick(x, keep)
        local pys = {}
        for j, y in ipairs(ys) do pys[j] = pick(y, keep) end
        local tag = safe_name(ob.name)
        local pic, note = plot.hist{ file = rep:path(tag .. "_hist.png"), x = px, y = #pys == 1 and pys[1] or pys,
          labels = labels, title = (ob.kind == "energy" and "energy histogram: " or "histogram: ") .. ob.label,
          xlabel = ob.label, ylabel = "fraction of weight" }
        fig(pic, (ob.kind == "energy" and "Energy histogram" or ("Histogram of " .. ob.label)) ..
          ": sample vs reference", note)
        if ob.kind ~= "energy" then
          local series = { { x = px, y = pick(Fs, keep), err = dFs and pick(dFs, keep), label = "sample" .. (dFs and ", bootstrap band" or "") } }
          if r.F_ref then series[2] = { x = px, y = pick(r.F_ref, keep), label = "reference", style = "points" } end
          local pic2, note2 = plot.curves{ file = rep:path(tag .. "_pmf.png"), title = "PMF along " .. ob.label,
            xlabel = ob.label, ylabel = "F (energy units)", series = series }
          fig(pic2, "PMF F = -kT log P(" .. ob.label .. "): sample vs reference", note2)
        end
      end
    else
      local rmax = math.floor(L / 2)
      local function corr_of(set, first, count)
        local c = A.corr{ L = L, q = model.q, rmax = rmax, backend = o.backend }
        c:add(set.x + first * model.n, set.logw and (set.logw + first) or nil, count)
        if not (c.acc[rmax + 1] > 0) then return nil end
        return c:result().g
      end
      local function corr_err(set, g)
        local G = math.min(o.groups, set.n)
        if set.exact or G < 2 then return set.exact and 0 or nan() end
        local gs, size = {}, math.floor(set.n / G)
        for k = 0, G - 1 do
          local cnt = k == G - 1 and set.n - k * size or size
          gs[#gs + 1] = corr_of(set, k * size, cnt)
        end
        local err = {}
        for rr = 1, #g do
          local m, v, c = 0, 0, 0
          for _, t in ipairs(gs) do m = m + t[rr]; c = c + 1 end
          m = m / c
          for _, t in ipairs(gs) do v = v + (t[rr] - m) ^ 2 end
          err[rr] = c >= 2 and math.sqrt(v / (c - 1) / c) or nan()
        end
        return err
      end
      local g = corr_of(S, 0, S.n)
      local ge = corr_err(S, g)
      local gr, gre
      if Rf then gr = corr_of(Rf, 0, Rf.n); gre = corr_err(Rf, gr) end
      local r = { r = {}, estimate = {}, err = {}, reference = gr and {} or nil, ref_err = gr and {} or nil }
      for rr = 1, rmax do           -- r = 0 is 1 by definition
        local i = rr + 1
        r.r[rr], r.estimate[rr], r.err[rr] = rr, g[i], type(ge) == "table" and ge[i] or ge
        local label = string.format("G(r=%d)", rr)
        local row = { label, g[i], r.err[rr], "", "", "", "", "" }
        if gr then
          r.reference[rr], r.ref_err[rr] = gr[i], type(gre) == "table" and gre[i] or gre
          local e = math.sqrt(r.err[rr] ^ 2 + r.ref_err[rr] ^ 2)
          row[4], row[5], row[6] = gr[i], r.ref_err[rr], e > 0 and (g[i] - gr[i]) / e or nan()
        end
        rows[#rows + 1] = row
      end
      numbers.observables.corr = r
      numbers.order[#numbers.order + 1] = "corr"
      local series = { { x = r.r, y = r.estimate, err = r.err, label = "sample", style = "points" } }
      if gr then series[2] = { x = r.r, y = r.reference, label = "reference", style = "lines" } end
      local pic, note = plot.curves{ file = rep:path("corr.png"), title = "two-point correlation", xlabel = "r",
        ylabel = model.q == 2 and "<s_i s_i+r>" or "<delta(x_i, x_i+r)> - 1/q", series = series }
      fig(pic, "Two-point correlation by distance: sample vs reference", note)
    end
  end
  rep:section("Observables")
  rep:table{ title = "Estimates (sample" .. (S.logw and ", reweighted" or "") .. ") against the reference; z = (estimate - reference) / combined error",
    header = { "observable", "estimate", "error", "reference", "ref. error", "z", "JS", "PMF RMSE" }, rows = rows }
  rep:text(string.format("JS: Jensen-Shannon divergence (natural log) between the weighted sample histogram and the " ..
    "reference histogram.  PMF RMSE: root-mean-square difference (energy units, kT = %.6g) of the PMFs -kT log P " ..
    "after aligning their minima, over bins populated in both.", kT))
  rep:section("Pictures")
  for _, f in ipairs(figures) do rep:figure(f[1], f[2], f[3]) end
  local path = rep:write()
  numbers.path = path
  return path, numbers
end

return M
