-- tempera.report.document: the document a report is (sections, text,
-- tables, figures; Markdown and self-contained HTML).  Part of tp.report:  A report is a
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

-- a name safe for a file in the report directory
function M.safe_name(s) return (s:gsub("[^%w_.-]", "_")) end

M.Report = Report
return M
