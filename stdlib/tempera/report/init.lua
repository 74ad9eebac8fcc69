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
--   rep:run_dir("out")                            -- a run directory
--   rep:write()                                   -- -> path of report.md
--   tp.report{ out =, title =, dump = path, tables =, figures =, meta = }   -- all at once
--   local path, num = tp.report{ samples = batch, reweight = "likelihood",   -- a batch of
--     reference = "exact" | "swendsen_wang" | batch | dump, out = dir }      -- samples
--
-- The package: tempera.report.document (the document), .dump (a dump),
-- .run (a run directory), .samples (a batch against a reference).
-- 'tempera report RUN_DIR|DUMP [-o OUT]' (tempera.cmd.report) builds one
-- from a run directory or a dump.  Measurements come from tp.evaluate and
-- tp.analysis (C kernels, streamed chunk by chunk); pictures from tp.plot.
local util = require "tempera.util"
local doc = require "tempera.report.document"
require "tempera.report.dump"
require "tempera.report.run"
local samples = require "tempera.report.samples"

local M = { new = doc.new, fmt = doc.fmt, samples = samples.samples, Report = doc.Report }

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

