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
  local f = io.open(path, "w")
  if not f then util.raise("report: cannot write %s", path) end
  f:write(table.concat(md, "\n"), "\n")
  f:close()
  f = io.open(self:path("report.html"), "w")
  if not f then util.raise("report: cannot write %s", self:path("report.html")) end
  f:write(table.concat(html, "\n"), "\n")
  f:close()
  return path
end

-- ---- analysing a dump ---------------------------------------------------------

local LOGW_NAMES = { "logw", "log_w", "log_weight", "logw_bias", "log_rw", "log_rnd" }
local ENERGY_NAMES = { energy = true, E = true, e = true, energy_total = true }

local function find_logw(d)
  for _, n in ipairs(LOGW_NAMES) do if d.field_index[n] then return n end end
  return nil
end

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

  local logw = find_logw(d)
  local kT = kT_of(d.meta)
  -- pass 1: moments (weighted and plain) and ranges of every f64 column
  local cols = {}
  for _, f in ipairs(d.fields) do
    if f.type == "f64" and f.name ~= logw and f.width <= 4 then
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
    summary[#summary + 1] = { "log-weight field", logw }
    summary[#summary + 1] = { "NESS", ws.ness }
    summary[#summary + 1] = { "ESS", ws.ess }
    summary[#summary + 1] = { "log Z-hat", ws.log_z }
  end
  if kT then summary[#summary + 1] = { "kT (from metadata)", kT } end
  self:table{ title = "Samples", header = { "quantity", "value" }, rows = summary }
  if n == 0 then self:text("The dump holds no records."); d:close(); return self end

  local srows = {}
  for _, col in ipairs(cols) do
    local p = col.plain:summary()
    local r = { col.name, p.mean, p.sd, col.mm[0], col.mm[1] }
    if col.weighted then
      local w = col.weighted:summary()
      r[6], r[7], r[8] = w.mean, w.err and w.err.mean or "", w.sd
    end
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
        local b = bytes and io.open(dst, "wb")
        if b then b:write(bytes); b:close() end
        local dat = src:gsub("%.[%w]+$", "") .. ".dat"
        local da = io.open(dat, "rb")
        if da then
          local t = da:read("*a"); da:close()
          local db = io.open(dst:gsub("%.[%w]+$", "") .. ".dat", "wb")
          if db then db:write(t); db:close() end
        end
      end
      self:figure(dst, name)
    end
  end
  return self
end

-- tp.report{ out =, title =, dump = path | { paths }, run_dir =, meta =, text =,
--            tables = {...}, figures = { { path, caption } } } -> path of report.md
function M.make(o)
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
  Command line: tempera report RUN_DIR|DUMP [-o OUT]]==])

return setmetatable(M, { __call = function(_, o) return M.make(o) end })
