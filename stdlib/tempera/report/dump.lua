-- tempera.report.dump: the report on a dump (rep:dump): metadata, fields,
-- weights (named), statistics, histograms and PMFs with bootstrap bands,
-- correlations and a snapshot, streamed chunk by chunk.
local F = require "tempera.ffi"
local util = require "tempera.util"
local A = require "tempera.analysis"
local plot = require "tempera.plot"
local C, ffi = F.C, F.ffi
local doc = require "tempera.report.document"
local Report, fmt, safe_name = doc.Report, doc.fmt, doc.safe_name
local M = {}

-- ---- analysing a dump ---------------------------------------------------------

-- the weight rule is tp.evaluate's (likelihood weights first; see
-- tp.evaluate.LOGW_FIELDS): the report and the evaluation agree
local ev = require "tempera.evaluate"
local find_logw, LOGW_FIELD = ev.dump_logw, ev.IS_LOGW
local ENERGY_NAMES = { energy = true, E = true, e = true, energy_total = true }
M.find_logw = find_logw

-- the unit of the energy, from the model recorded in the dump
local function energy_unit(meta)
  local m = (meta.model or ""):lower()
  if m:find("^model ising") or m:find("^model potts") or m:find("^ising") or m:find("^potts") then return "J" end
  if m:find("cluster") or m:find("cu%-au") or m:find("alloy") then return "eV" end
  return "energy units"
end

-- "mean +- err" rounded to the error's second significant digit
local function with_err(v, e)
  if type(v) ~= "number" or type(e) ~= "number" or not (e > 0) then return v end
  return require("tempera.observables").format{ mean = v, err = e }
end

-- kT from the dump's metadata (beta=... in params, or a kT/beta entry), or nil
local function kT_of(meta)
  local b = tonumber(meta.beta) or (meta.params and tonumber(meta.params:match("%f[%w]beta=([%d%.eE+-]+)")))
  if b and b > 0 then return 1 / b end
  local t = tonumber(meta.kT) or (meta.params and tonumber(meta.params:match("%f[%w]kT=([%d%.eE+-]+)")))
  return t
end

local FINE = 1024     -- fine bins, merged to 'bins' for continuous data


-- rep:dump(path [, { bins = 50, bootstrap = 50, tag = }]) -> self: metadata,
-- fields, weights (NESS, log Z-hat), statistics and histograms of every
-- numeric column, a PMF with bootstrap error bands for CV columns when the
-- dump has log-weights, correlations and a snapshot for L x L configurations.
function Report:dump(path, o)
  o = o or {}
  local dumpmod = require "tempera.dump"
  local d, err = dumpmod.read(path)
  if not d then
    self:section("Dump " .. path)
    self:text("Cannot read this dump: " .. err)
    return self
  end
  local tag = o.tag or safe_name((path:match("([^/]+)$") or path):gsub("%.tpd$", ""))
  local bins = o.bins or 64
  self:section("Dump `" .. (path:match("([^/]+)$") or path) .. "`")
  -- metadata (the recipe itself goes in a code block)
  local rows = {}
  for _, k in ipairs(d.meta_keys) do
    if k ~= "recipe" then
      local v = d.meta[k]
      if #v > 200 then v = v:sub(1, 200) .. "..." end
      rows[#rows + 1] = { k, v }
    end
  end
  rows[#rows + 1] = { "file size (bytes)", d.size }
  self:table{ title = "Metadata", header = { "key", "value" }, rows = rows }
  local frows = {}
  for _, f in ipairs(d.fields) do
    frows[#frows + 1] = { f.name, f.type, f.shape and table.concat(f.shape, "x") or f.width, f.states or "" }
  end
  self:table{ title = "Fields", header = { "name", "type", "width", "states" }, rows = frows }

  local logw, logw_what = find_logw(d)
  local kT = kT_of(d.meta)
  local eunit = energy_unit(d.meta)
  -- pass 1: moments (weighted and plain) and ranges of every f64 column
  local cols = {}
  for _, f in ipairs(d.fields) do
    if f.type == "f64" and not LOGW_FIELD[f.name] and f.width <= 4 then
      for c = 1, f.width do
        cols[#cols + 1] = { field = f, comp = c, name = f.width > 1 and (f.name .. "[" .. c .. "]") or f.name,
          plain = A.stats(), weighted = logw and A.stats{ bootstrap = o.bootstrap or 50 } or nil,
          mm = ffi.new("double[2]", math.huge, -math.huge) }
      end
    end
  end
  local W = A.stats()
  local n, last_cfg, cfgf = 0, nil, nil
  for _, f in ipairs(d.fields) do
    if f.type == "config" then
      local L = f.shape and #f.shape == 2 and f.shape[1] == f.shape[2] and f.shape[1] or nil
      if not L then local r = math.floor(math.sqrt(f.width) + 0.5); if r * r == f.width then L = r end end
      if L then cfgf = { f = f, L = L, corr = A.corr{ L = L, q = f.states, rmax = math.floor(L / 2) } }; break end
    end
  end
  d:rewind()
  for c in d:chunks() do
    local lw = logw and c:get(logw) or nil
    W:add(nil, lw, c.n)
    local cache = {}
    for _, col in ipairs(cols) do
      local a = cache[col.field.name] or c:get(col.field.name)
      cache[col.field.name] = a
      local p = ffi.cast("const double *", a) + (col.comp - 1)
      col.plain:add(p, nil, c.n, col.field.width)
      if col.weighted then col.weighted:add(p, lw, c.n, col.field.width) end
      util.check(C.tp_rw_minmax(col.mm, p, col.field.width, c.n))
    end
    if cfgf and c.n > 0 then
      local x = c:get(cfgf.f.name)
      cfgf.corr:add(x, lw, c.n)
      -- G(r) of each batch of 256 records: their spread gives the error
      -- bars (batch means)
      cfgf.chunks = cfgf.chunks or {}
      local w = cfgf.f.width
      for b0 = 0, c.n - 1, 256 do
        local k = math.min(256, c.n - b0)
        local cc = A.corr{ L = cfgf.L, q = cfgf.f.states, rmax = math.floor(cfgf.L / 2) }
        cc:add(x + b0 * w, lw and (lw + b0) or nil, k)
        cfgf.chunks[#cfgf.chunks + 1] = cc:result().g
      end
      last_cfg = x + (c.n - 1) * cfgf.f.width
      cfgf.keep = x
    end
    n = n + c.n
  end
  local ws = W:summary()
  local summary = { { "records", n }, { "complete", tostring(d.complete) } }
  if d.error then summary[#summary + 1] = { "damage", d.error } end
  if logw then
    summary[#summary + 1] = { "weighting", logw .. ": " .. logw_what }
    summary[#summary + 1] = { "NESS", ws.ness }
    summary[#summary + 1] = { "ESS", ws.ess }
    summary[#summary + 1] = { "log Z-hat", ws.log_z }
  end
  if kT then summary[#summary + 1] = { "kT (from metadata)", kT } end
  self:table{ title = "Samples", header = { "quantity", "value" }, rows = summary }
  if n == 0 then self:text("The dump holds no records."); d:close(); return self end

  local srows = {}
  -- the numbers, for a program (rep.results[tag]) as well as the document
  local res = { n = n, weighting = logw, weighting_text = logw_what, ness = logw and ws.ness or nil,
    log_z = logw and ws.log_z or nil, stats = {} }
  self.results = self.results or {}
  self.results[tag] = res
  for _, col in ipairs(cols) do
    local p = col.plain:summary()
    local r = { col.name, p.mean, p.sd, col.mm[0], col.mm[1] }
    local st = { mean = p.mean, sd = p.sd, min = col.mm[0], max = col.mm[1] }
    if col.weighted then
      local w = col.weighted:summary()
      r[6], r[7] = w.err and with_err(w.mean, w.err.mean) or w.mean, w.sd
      st.reweighted, st.reweighted_err, st.reweighted_sd = w.mean, w.err and w.err.mean, w.sd
    end
    res.stats[col.name] = st
    srows[#srows + 1] = r
  end
  self:table{ title = "Statistics" .. (logw and " (sampled, and reweighted with exp(" .. logw .. "))" or ""),
    header = logw and { "column", "mean", "sd", "min", "max", "reweighted mean +- bootstrap error", "reweighted sd" }
      or { "column", "mean", "sd", "min", "max" }, rows = srows }

  -- pass 2: histograms (sampled vs reweighted), PMFs with bootstrap bands
  local hists = {}
  for _, col in ipairs(cols) do
    local lo, hi = col.mm[0], col.mm[1]
    if lo < hi and lo == lo then
      local pad = (hi - lo) * 1e-9
      -- fine bins first: a column with few distinct values (a magnetisation,
      -- an energy of a small lattice) is then shown one bin per value
      col.h = A.hist{ range = { lo - pad, hi + pad }, bins = FINE }
      if logw then col.hw = A.hist{ range = { lo - pad, hi + pad }, bins = FINE, bootstrap = o.bootstrap or 50 } end
      hists[#hists + 1] = col
    end
  end
  local h2
  for _, f in ipairs(d.fields) do
    if f.type == "f64" and f.width == 2 and f.name ~= logw then
      local cx, cy
      for _, col in ipairs(cols) do
        if col.field == f then if col.comp == 1 then cx = col else cy = col end end
      end
      if cx and cy and cx.mm[0] < cx.mm[1] and cy.mm[0] < cy.mm[1] then
        h2 = { f = f, h = A.hist2d{ range = { { cx.mm[0], cx.mm[1] }, { cy.mm[0], cy.mm[1] } }, bins = { 40, 40 } } }
        break
      end
    end
  end
  if #hists > 0 or h2 then
    d:rewind()
    for c in d:chunks() do
      local lw = logw and c:get(logw) or nil
      local cache = {}
      for _, col in ipairs(hists) do
        local a = cache[col.field.name] or c:get(col.field.name)
        cache[col.field.name] = a
        local p = ffi.cast("const double *", a) + (col.comp - 1)
        col.h:add(p, nil, c.n, col.field.width)
        if col.hw then col.hw:add(p, lw, c.n, col.field.width) end
      end
      if h2 then h2.h:add(c:get(h2.f.name), lw, c.n, h2.f.width) end
    end
  end
  for _, col in ipairs(hists) do
    local is_e = ENERGY_NAMES[col.field.name]
    local discrete = col.h:nonempty() <= 64
    if not discrete then
      local k = FINE / 2 ^ math.floor(math.log(bins) / math.log(2) + 0.5)
      col.h = col.h:rebin(k)
      if col.hw then col.hw = col.hw:rebin(k) end
    end
    local x = col.h:centers()
    local ys, labels = { col.h:counts() }, { "sampled" }
    if col.hw then ys[2], labels[2] = col.hw:counts(), "reweighted" end
    if discrete then     -- keep only the values that occur
      local keep = {}
      for i = 1, #x do if ys[1][i] > 0 or (ys[2] and ys[2][i] > 0) then keep[#keep + 1] = i end end
      local function pick(t) local r = {}; for j, i in ipairs(keep) do r[j] = t[i] end; return r end
      x = pick(x)
      for j = 1, #ys do ys[j] = pick(ys[j]) end
      col.keep = pick
    end
    local file = self:path(string.format("%s_%s_hist.png", tag, safe_name(col.name)))
    local pic, note = plot.hist{ file = file, x = x, y = #ys == 1 and ys[1] or ys, labels = labels,
      title = (is_e and "energy histogram: " or "histogram: ") .. col.name,
      xlabel = is_e and string.format("%s (%s)", col.name, eunit) or col.name, ylabel = "fraction of weight" }
    self:figure(pic, (is_e and "Energy histogram of " or "Histogram of ") .. col.name, note)
    if col.hw and not is_e then
      -- in units of k_B T: -log P (the dump's kT only names the temperature)
      local Fv, dF = col.hw:pmf(1)
      if col.keep then Fv, dF = col.keep(Fv), col.keep(dF) end
      local pic2, note2 = plot.curves{ file = self:path(string.format("%s_%s_pmf.png", tag, safe_name(col.name))),
        title = "PMF along " .. col.name, xlabel = col.name, ylabel = "F / k_B T",
        series = { { x = x, y = Fv, err = dF, label = "reweighted, bootstrap band" } } }
      self:figure(pic2, "PMF F / k_B T = -log P(" .. col.name .. ") from the reweighted samples (" .. logw
        .. "), with its bootstrap error band" .. (kT and string.format("; k_B T = %.6g %s", kT, eunit) or ""), note2)
    end
  end
  if h2 then
    local xs, ys = h2.h:centers()
    local pic, note = plot.heatmap{ file = self:path(string.format("%s_%s_2d.png", tag, safe_name(h2.f.name))),
      x = xs, y = ys, z = h2.h:counts(), title = h2.f.name .. (logw and " (reweighted)" or ""),
      xlabel = h2.f.name .. "[1]", ylabel = h2.f.name .. "[2]", cblabel = "weight" }
    self:figure(pic, "2-D histogram of " .. h2.f.name, note)
  end
  if cfgf and last_cfg ~= nil then
    local r = cfgf.corr:result()
    -- standard errors by batch means over the chunks (K >= 4 chunks)
    local K, gerr = cfgf.chunks and #cfgf.chunks or 0, nil
    if K >= 4 then
      gerr = {}
      for i = 1, #r.r do
        local s1, s2 = 0, 0
        for k = 1, K do s1, s2 = s1 + cfgf.chunks[k][i], s2 + cfgf.chunks[k][i] ^ 2 end
        gerr[i] = math.sqrt(math.max(0, s2 / K - (s1 / K) ^ 2) / (K - 1))
      end
    end
    local rows2 = {}
    for i = 1, #r.r do
      rows2[i] = { r.r[i], gerr and with_err(r.g[i], gerr[i]) or r.g[i], r.connected and r.connected[i] or "" }
    end
    self:table{ title = string.format("Two-point correlation of %s (%s convention%s%s)", cfgf.f.name,
      cfgf.f.states == 2 and "Ising <s_i s_i+r>" or "Potts <delta> - 1/q", logw and ", reweighted with " .. logw or "",
      gerr and string.format("; errors by batch means over %d batches of up to 256 records", K) or ""),
      header = { "r", "G(r)", "connected" }, rows = rows2 }
    local pic, note = plot.curves{ file = self:path(tag .. "_corr.png"), title = "two-point correlation",
      xlabel = "r (lattice spacings)", ylabel = "G(r)",
      series = { { x = r.r, y = r.g, err = gerr, label = "G(r)", style = "points" } } }
    self:figure(pic, "Two-point correlation by distance" .. (gerr and ", with batch-means error bars" or ""), note)
    local pic2, note2 = plot.lattice{ file = self:path(tag .. "_snapshot.png"), config = last_cfg, L = cfgf.L,
      q = cfgf.f.states, title = "last configuration in the dump" }
    self:figure(pic2, "Lattice snapshot: the last configuration", note2)
  end
  if d.meta.recipe then
    self:subsection("Recipe that wrote this dump")
    self:code(d.meta.recipe)
  end
  d:close()
  return self
end

return M
