-- tempera.report: reports a person wants to look at.  A report is a
-- directory holding report.md (Markdown, pictures linked beside it),
-- report.html (one self-contained file: pictures embedded), the pictures
-- (PNG, or SVG without cairo) and the data behind each picture as text.
--
--   local rep = tp.report.new{ out = tp.out("report"), title = "Ising 4x4" }
--   rep:meta{ beta = 0.44, samples = n }          -- a key/value table
--   rep:table{ title =, header = {...}, rows = {{...}} }
--   rep:figure(tp.plot.curves{ file = rep:path("pmf.png"), ... }, "caption")
--   rep:dump("run.tpd")                           -- analyse a dump (streamed)
--   rep:write()                                   -- -> path of report.md
--   tp.report{ out =, title =, dump = path, tables =, figures =, meta = }   -- all at once
--   local path, num = tp.report{ samples = batch, reweight = "likelihood",   -- a batch of
--     reference = "exact" | "swendsen_wang" | batch | dump, out = dir }      -- samples
--
-- 'tempera report RUN_DIR|DUMP [-o OUT]' (tempera.cmd.report) builds one
-- from a run directory or a dump.  Statistics come from tp.analysis (C
-- kernels, streamed chunk by chunk); pictures from tp.plot (gnuplot).
local F = require "tempera.ffi"
local util = require "tempera.util"
local A = require "tempera.analysis"
local plot = require "tempera.plot"
local C, ffi = F.C, F.ffi

local M = {}
local Report = {}
Report.__index = Report

local function fmt(v)
  if type(v) == "number" then
    if v ~= v then return "nan" end
    if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
    return string.format("%.6g", v)
  end
  return tostring(v)
end
M.fmt = fmt

-- tp.report.new{ out = dir, title = } -> report
function M.new(o)
  o = util.options("report.new", o, { out = { type = "string", required = true }, title = { type = "string", default = "tempera report" } })
  util.check(C.tp_mkdir_p(o.out))
  return setmetatable({ out = o.out, title = o.title, blocks = {}, figures = 0, notes = {} }, Report)
end

-- path of a file inside the report directory
function Report:path(name) return self.out .. "/" .. name end

function Report:section(title) self.blocks[#self.blocks + 1] = { kind = "h2", text = title }; return self end
function Report:subsection(title) self.blocks[#self.blocks + 1] = { kind = "h3", text = title }; return self end
function Report:text(s) self.blocks[#self.blocks + 1] = { kind = "p", text = s }; return self end
function Report:code(s) self.blocks[#self.blocks + 1] = { kind = "pre", text = s }; return self end

-- rep:table{ title =, header = {...}, rows = { {...}, ... } }
function Report:table(t)
  util.check_arg(type(t) == "table" and type(t.header) == "table" and type(t.rows) == "table",
    "report:table{ header = {...}, rows = {{...}} }")
  self.blocks[#self.blocks + 1] = { kind = "table", title = t.title, header = t.header, rows = t.rows }
  return self
end

-- rep:meta{ key = value } or rep:meta({ {k, v}, ... }) : a two-column table
function Report:meta(kv, title)
  local rows = {}
  if kv[1] ~= nil then
    for _, r in ipairs(kv) do rows[#rows + 1] = { r[1], fmt(r[2]) } end
  else
    for _, k in ipairs(util.sorted_keys(kv)) do rows[#rows + 1] = { k, fmt(kv[k]) } end
  end
  return self:table{ title = title, header = { "key", "value" }, rows = rows }
end

-- rep:figure(path_or_nil, caption [, note]): a picture made by tp.plot (a
-- nil path, as tp.plot returns without gnuplot, records the note instead)
function Report:figure(path, caption, note)
  if path == nil then
    self.blocks[#self.blocks + 1] = { kind = "p", text = string.format("(figure '%s' not drawn: %s)", caption or "",
      tostring(note or "no picture")) }
    return self
  end
  self.figures = self.figures + 1
  self.blocks[#self.blocks + 1] = { kind = "figure", path = path, caption = caption or "" }
  return self
end

-- ---- writing -------------------------------------------------------------------

local function rel(self, path)
  local prefix = self.out .. "/"
  if path:sub(1, #prefix) == prefix then return path:sub(#prefix + 1) end
  return path
end

local function md_cell(s) return (tostring(s):gsub("|", "\\|"):gsub("\n", " ")) end

local function esc(s)
  return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;"))
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = math.floor(v / 262144) % 64, math.floor(v / 4096) % 64
    local c3, c4 = math.floor(v / 64) % 64, v % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1) ..
      (b and b64chars:sub(c3 + 1, c3 + 1) or "=") .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end
M.base64 = base64

local function datafile(path)
  local d = path:gsub("%.[%w]+$", "") .. ".dat"
  local f = io.open(d, "r")
  if f then f:close(); return d end
  return nil
end

-- rep:write() -> path of report.md (report.html is written beside it)
function Report:write()
  local md = { "# " .. self.title, "", string.format("_Generated by tempera %s on %s._", ffi.string(C.tp_version()),
    os.date("!%Y-%m-%d %H:%M UTC")), "" }
  local html = { "<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>" .. esc(self.title) .. "</title>",
    "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}" ..
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}" ..
    "th{background:#eee}figure{margin:1em 0}img{max-width:100%}pre{background:#f6f6f6;padding:0.5em;overflow:auto}" ..
    "figcaption{color:#555;font-size:90%}</style></head><body>",
    "<h1>" .. esc(self.title) .. "</h1>",
    "<p><em>Generated by tempera " .. esc(ffi.string(C.tp_version())) .. " on " .. os.date("!%Y-%m-%d %H:%M UTC") .. ".</em></p>" }
  for _, b in ipairs(self.blocks) do
    if b.kind == "h2" or b.kind == "h3" then
      md[#md + 1] = (b.kind == "h2" and "## " or "### ") .. b.text
      md[#md + 1] = ""
      html[#html + 1] = string.format("<%s>%s</%s>", b.kind, esc(b.text), b.kind)
    elseif b.kind == "p" then
      md[#md + 1] = b.text
      md[#md + 1] = ""
      html[#html + 1] = "<p>" .. esc(b.text) .. "</p>"
    elseif b.kind == "pre" then
      md[#md + 1] = "```"
      md[#md + 1] = b.text
      md[#md + 1] = "```"
      md[#md + 1] = ""
      html[#html + 1] = "<pre>" .. esc(b.text) .. "</pre>"
    elseif b.kind == "table" then
      if b.title then md[#md + 1] = "**" .. b.title .. "**"; md[#md + 1] = "" end
      local h = {}
      for i, c in ipairs(b.header) do h[i] = md_cell(c) end
      md[#md + 1] = "| " .. table.concat(h, " | ") .. " |"
      local sep = {}
      for i = 1, #h do sep[i] = "---" end
      md[#md + 1] = "| " .. table.concat(sep, " | ") .. " |"
      local ht = { b.title and ("<p><strong>" .. esc(b.title) .. "</strong></p>") or "", "<table><tr>" }
      for _, c in ipairs(b.header) do ht[#ht + 1] = "<th>" .. esc(c) .. "</th>" end
      ht[#ht + 1] = "</tr>"
      for _, r in ipairs(b.rows) do
        local cells = {}
        for i = 1, #b.header do cells[i] = md_cell(fmt(r[i] == nil and "" or r[i])) end
        md[#md + 1] = "| " .. table.concat(cells, " | ") .. " |"
        ht[#ht + 1] = "<tr>"
        for i = 1, #b.header do ht[#ht + 1] = "<td>" .. esc(fmt(r[i] == nil and "" or r[i])) .. "</td>" end
        ht[#ht + 1] = "</tr>"
      end
      ht[#ht + 1] = "</table>"
      md[#md + 1] = ""
      html[#html + 1] = table.concat(ht)
    elseif b.kind == "figure" then
      local r = rel(self, b.path)
      local d = datafile(b.path)
      md[#md + 1] = string.format("![%s](%s)", b.caption, r)
      md[#md + 1] = ""
      md[#md + 1] = "_" .. b.caption .. (d and (" (data: `" .. rel(self, d) .. "`)") or "") .. "_"
      md[#md + 1] = ""
      local f = io.open(b.path, "rb")
      local src = r
      if f then
        local bytes = f:read("*a")
        f:close()
        local mime = b.path:match("%.svg$") and "image/svg+xml" or "image/png"
        src = "data:" .. mime .. ";base64," .. base64(bytes)
      end
      html[#html + 1] = string.format("<figure><img src=\"%s\" alt=\"%s\"><figcaption>%s%s</figcaption></figure>",
        src, esc(b.caption), esc(b.caption), d and (" (data: <code>" .. esc(rel(self, d)) .. "</code>)") or "")
    end
  end
  html[#html + 1] = "</body></html>"
  local path = self:path("report.md")
  local f = util.open_write(path)
  if not f then util.raise("report: cannot write %s", path) end
  f:write(table.concat(md, "\n"), "\n")
  f:close()
  f = util.open_write(self:path("report.html"))
  if not f then util.raise("report: cannot write %s", self:path("report.html")) end
  f:write(table.concat(html, "\n"), "\n")
  f:close()
  return path
end

-- ---- analysing a dump ---------------------------------------------------------

-- Log-weight fields, in the order they are preferred for estimates of the
-- physical ensemble, with what each one means.  A neural sampler's dump
-- (trainer:evaluate) holds both logw_lik and logw_bias: the likelihood
-- weights -beta E - log q are exact for any q, the bias weights beta V only
-- when the network has learned the biased target perfectly.
local LOGW = {
  { "logw_lik", "likelihood weights log w = -beta E - log q(x) (the sampler's own probability of each sample)" },
  { "log_rw", "likelihood weights log w = -beta E - log q(x)" },
  { "logw", "the dump's log-weights (field logw)" },
  { "log_w", "the dump's log-weights (field log_w)" },
  { "log_weight", "the dump's log-weights (field log_weight)" },
  { "logw_bias", "bias weights log w = beta V(s) (exact only if the samples follow the biased target)" },
  { "log_rnd", "log Radon-Nikodym weights (field log_rnd)" },
}
local LOGW_FIELD = {}
for _, e in ipairs(LOGW) do LOGW_FIELD[e[1]] = e[2] end
local ENERGY_NAMES = { energy = true, E = true, e = true, energy_total = true }

-- the dump's preferred log-weight field and what it means, or nil
local function find_logw(d)
  for _, e in ipairs(LOGW) do if d.field_index[e[1]] then return e[1], e[2] end end
  return nil
end
M.find_logw = find_logw

-- kT from the dump's metadata (beta=... in params, or a kT/beta entry), or nil
local function kT_of(meta)
  local b = tonumber(meta.beta) or (meta.params and tonumber(meta.params:match("%f[%w]beta=([%d%.eE+-]+)")))
  if b and b > 0 then return 1 / b end
  local t = tonumber(meta.kT) or (meta.params and tonumber(meta.params:match("%f[%w]kT=([%d%.eE+-]+)")))
  return t
end

local FINE = 1024     -- fine bins, merged to 'bins' for continuous data

local function safe_name(s) return (s:gsub("[^%w_.-]", "_")) end

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
      r[6], r[7], r[8] = w.mean, w.err and w.err.mean or "", w.sd
      st.reweighted, st.reweighted_err, st.reweighted_sd = w.mean, w.err and w.err.mean, w.sd
    end
    res.stats[col.name] = st
    srows[#srows + 1] = r
  end
  self:table{ title = "Statistics" .. (logw and " (sampled, and reweighted with exp(" .. logw .. "))" or ""),
    header = logw and { "column", "mean", "sd", "min", "max", "reweighted mean", "bootstrap error", "reweighted sd" }
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
      title = (is_e and "energy histogram: " or "histogram: ") .. col.name, xlabel = col.name, ylabel = "fraction of weight" }
    self:figure(pic, (is_e and "Energy histogram of " or "Histogram of ") .. col.name, note)
    if col.hw and not is_e then
      local Fv, dF = col.hw:pmf(kT or 1)
      if col.keep then Fv, dF = col.keep(Fv), col.keep(dF) end
      local pic2, note2 = plot.curves{ file = self:path(string.format("%s_%s_pmf.png", tag, safe_name(col.name))),
        title = "PMF along " .. col.name, xlabel = col.name, ylabel = kT and "F (energy units)" or "F / kT",
        series = { { x = x, y = Fv, err = dF, label = "reweighted, bootstrap band" } } }
      self:figure(pic2, "PMF F = -kT log P(" .. col.name .. ") from reweighted samples, with bootstrap error band"
        .. (kT and "" or " (kT unknown: units of kT)"), note2)
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
    local rows2 = {}
    for i = 1, #r.r do rows2[i] = { r.r[i], r.g[i], r.connected and r.connected[i] or "" } end
    self:table{ title = string.format("Two-point correlation of %s (%s convention%s)", cfgf.f.name,
      cfgf.f.states == 2 and "Ising <s_i s_i+r>" or "Potts <delta> - 1/q", logw and ", reweighted" or ""),
      header = { "r", "G(r)", "connected" }, rows = rows2 }
    local pic, note = plot.curves{ file = self:path(tag .. "_corr.png"), title = "two-point correlation",
      xlabel = "r", ylabel = "G(r)", series = { { x = r.r, y = r.g, label = "G(r)", style = "points" } } }
    self:figure(pic, "Two-point correlation by distance", note)
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

-- ---- analysing a run directory ---------------------------------------------------

local function list_dir(dir)
  local p = io.popen("ls -1 '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  local t = {}
  if p then for l in p:lines() do t[#t + 1] = l end; p:close() end
  table.sort(t)
  return t
end

local function first_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local l = f:read("*l")
  f:close()
  return l
end

-- rep:run_dir(dir): run.txt metadata, every dump, every bias file, HILLS
-- files and the pictures the recipe drew itself.
function Report:run_dir(dir)
  local files = list_dir(dir)
  local f = io.open(dir .. "/run.txt", "r")
  if f then
    local rows = {}
    for l in f:lines() do
      local k, v = l:match("^(%S+)%s+(.*)$")
      if k then rows[#rows + 1] = { k, v } end
    end
    f:close()
    self:section("Run")
    self:table{ title = "run.txt", header = { "key", "value" }, rows = rows }
  end
  local frows = {}
  for _, name in ipairs(files) do
    local p = dir .. "/" .. name
    local fh = io.open(p, "rb")
    local size = fh and fh:seek("end") or nil
    if fh then fh:close() end
    frows[#frows + 1] = { name, size or "(dir)" }
  end
  self:table{ title = "Files", header = { "name", "bytes" }, rows = frows }
  for _, name in ipairs(files) do
    local p = dir .. "/" .. name
    if name:match("%.tpd$") then
      self:dump(p)
    elseif (first_line(p) or ""):match("^tempera%-bias ") then
      local b = C.tp_bias_load(p)
      if b ~= nil then
        b = ffi.gc(b, C.tp_bias_free)
        local info = ffi.new("tp_bias_info")
        util.check(C.tp_bias_get_info(b, info))
        self:section("Bias `" .. name .. "`")
        self:meta({ { "dimensions", info.dim }, { "grid points", tonumber(info.size) }, { "hills", tonumber(info.nhills) },
          { "bias factor", info.bias_factor }, { "kT", info.kT }, { "height per cycle", info.height } })
        if info.dim == 1 then
          local Fv = A.pmf_from_bias(b)
          local x = {}
          for i = 1, #Fv do x[i] = info.lo[0] + (i - 1) * info.spacing[0] end
          local pic, note = plot.curves{ file = self:path(safe_name(name) .. "_pmf.png"), title = "PMF from the bias",
            xlabel = "CV", ylabel = "F", series = { { x = x, y = Fv, label = "-gamma/(gamma-1) V" } } }
          self:figure(pic, "PMF from the bias grid " .. name, note)
        end
      end
    elseif (first_line(p) or ""):match("^#! FIELDS") and name:upper():find("HILLS") then
      local h = require("tempera.plumed").read_hills(p)
      if h and h.dim == 1 and h.n > 0 then
        local mm = ffi.new("double[2]", math.huge, -math.huge)
        util.check(C.tp_rw_minmax(mm, h.centers[1], 1, h.n))
        local lo, hi = mm[0] - 3 * h.sigma[1][0], mm[1] + 3 * h.sigma[1][0]
        local V, size = h:sum{ lo = { lo }, hi = { hi }, points = { 201 } }
        local Fv = A.pmf_from_bias(V, h.bias_factor, size)
        local x = {}
        for i = 1, size do x[i] = lo + (i - 1) * (hi - lo) / (size - 1) end
        self:section("HILLS `" .. name .. "`")
        self:meta({ { "hills", h.n }, { "CV", h.cv[1] }, { "bias factor", h.bias_factor } })
        local pic, note = plot.curves{ file = self:path(safe_name(name) .. "_pmf.png"), title = "PMF from summed hills",
          xlabel = h.cv[1], ylabel = "F", series = { { x = x, y = Fv, label = "summed HILLS" } } }
        self:figure(pic, "PMF from the summed hills of " .. name, note)
      end
    end
  end
  local pics = {}
  for _, name in ipairs(files) do
    if (name:match("%.png$") or name:match("%.svg$")) then pics[#pics + 1] = name end
  end
  if #pics > 0 then
    self:section("Pictures drawn by the recipe")
    for _, name in ipairs(pics) do
      local src, dst = dir .. "/" .. name, self:path(name)
      if src ~= dst then
        local a = io.open(src, "rb")
        local bytes = a and a:read("*a")
        if a then a:close() end
        local b = bytes and util.open_write(dst)
        if b then b:write(bytes); b:close() end
        local dat = src:gsub("%.[%w]+$", "") .. ".dat"
        local da = io.open(dat, "rb")
        if da then
          local t = da:read("*a"); da:close()
          local db = util.open_write(dst:gsub("%.[%w]+$", "") .. ".dat")
          if db then db:write(t); db:close() end
        end
      end
      self:figure(dst, name)
    end
  end
  return self
end

-- ---- a report on a batch of samples (design.md's recipe form) ------------------
--
-- tp.report{ samples = batch, reweight = "likelihood" | "bias" | "none",
--            reference = "exact" | "swendsen_wang" | "none" | batch | dump path,
--            observables = { "energy", "mag", "corr", cv, ... }, model =, beta =,
--            out = dir, title = } -> path of report.md, numbers
-- Every statistic comes from tp.analysis (C kernels); see tempera-analysis(5).

local u8_t, f64_t = ffi.typeof("uint8_t[?]"), ffi.typeof("double[?]")

-- side L of a periodic L x L square lattice (row-major sites), or nil
local function square_side(model)
  local lat = model.lattice
  if lat == nil or lat.dim ~= 2 or ffi.string(lat.kind) ~= "square" then return nil end
  local L = lat.size[0]
  if lat.size[1] ~= L or L * L ~= model.n then return nil end
  return L
end

local function nan() return 0 / 0 end

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
    local lw, lw_what = find_logw(d)   -- the same weighting rule as the dump report
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

-- per-sample values of one observable: a double array (n), or nil for corr
local function values(set, ob, model)
  local n, N, q = set.n, model.n, model.q
  if ob.kind == "energy" then
    local v = f64_t(n)
    util.check(C.tp_rw_scale(v, set.energy, 1 / N, n))
    return v
  elseif ob.kind == "mag" then
    local cnt = ffi.new("int32_t[?]", n * q)
    util.check(C.tp_obs_token_counts(cnt, set.x, n, N, q))
    local v = f64_t(n)
    for i = 0, n - 1 do
      if q == 2 then
        v[i] = math.abs(2 * cnt[2 * i + 1] / N - 1)
      else
        local mx = 0
        for k = 0, q - 1 do if cnt[i * q + k] > mx then mx = cnt[i * q + k] end end
        v[i] = (q * mx / N - 1) / (q - 1)
      end
    end
    return v
  elseif ob.kind == "cv" then
    local raw = ob.cv:eval(set.x, n)
    if ob.cv.dim == 1 then return raw end
    local v = f64_t(n)
    for i = 0, n - 1 do v[i] = raw[i * ob.cv.dim] end
    return v
  end
end

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
  local S = sample_set(fname, b, o.reweight, model, beta)
  local ref = o.reference
  if ref == nil then
    ref = (model.q ^ model.n <= (o.reference_opts.max_states or 2 ^ 20)) and "exact"
      or ((model.kind == "ising" or model.kind == "potts") and "swendsen_wang" or "none")
  end
  local Rf
  if ref == "exact" then Rf = exact_set(fname, model, beta, o.reference_opts)
  elseif ref == "swendsen_wang" then Rf = sw_set(fname, model, beta, o.reference_opts)
  elseif ref ~= "none" then Rf = given_set(fname, ref, model) end
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
  local rep = M.new{ out = o.out, title = o.title }
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
      local vs = values(S, ob, model)
      local vr = Rf and values(Rf, ob, model)
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

-- tp.report{ out =, title =, dump = path | { paths }, run_dir =, meta =, text =,
--            tables = {...}, figures = { { path, caption } } } -> path of report.md
function M.make(o)
  if type(o) == "table" and o.samples ~= nil then return M.samples(o) end
  util.check_arg(type(o) == "table" and type(o.out) == "string", "tp.report{ out = dir, ... }")
  local rep = M.new{ out = o.out, title = o.title }
  if o.text then rep:text(o.text) end
  if o.meta then rep:section("Parameters"); rep:meta(o.meta) end
  for _, t in ipairs(o.tables or {}) do rep:table(t) end
  for _, fg in ipairs(o.figures or {}) do rep:figure(fg[1] or fg.path, fg[2] or fg.caption, fg.note) end
  if o.run_dir then rep:run_dir(o.run_dir) end
  local dumps = type(o.dump) == "table" and o.dump or (o.dump and { o.dump } or {})
  for _, p in ipairs(dumps) do rep:dump(p) end
  return rep:write(), rep
end

util.doc(M, [==[
tp.report -- Markdown + self-contained HTML reports with pictures and data
  rep = tp.report.new{ out = dir, title = }   rep:section(t) rep:text(s) rep:code(s)
  rep:meta{ k = v }   rep:table{ title =, header = {...}, rows = {{...}} }
  rep:figure(path, caption)   rep:dump(path)   rep:run_dir(dir)   rep:write() -> report.md
  tp.report{ out =, title =, dump =, run_dir =, meta =, tables =, figures = }
  tp.report{ samples = batch, reweight = "likelihood"|"bias"|"none",
             reference = "exact"|"swendsen_wang"|"none"|batch|dump path, reference_opts = {...},
             observables = { "energy", "mag", "corr", cv }, model =, beta =, sampler =, out =, title = }
      -> path of report.md, { ness, ess, log_z, observables = { name = { estimate, err,
         reference, ref_err, z, js, pmf_rmse, ... } }, order, pictures }
  Command line: tempera report RUN_DIR|DUMP [-o OUT]]==])

return setmetatable(M, { __call = function(_, o) return M.make(o) end })
