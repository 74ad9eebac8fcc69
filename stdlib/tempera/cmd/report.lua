-- tempera.cmd.report: 'tempera report RUN_DIR|DUMP [-o OUT] [--title T]'.
-- Writes OUT/report.md and a self-contained OUT/report.html with the run's
-- metadata, tables and pictures (tempera.report).  OUT defaults to
-- RUN_DIR/report, or DUMP without .tpd plus "-report".
-- Exit status: 0 written, 1 input unreadable, 2 usage error.
local M = {}

local USAGE = "usage: tempera report RUN_DIR|DUMP [-o OUT] [--title TITLE]"

function M.main(...)
  local src, o = require("tempera.util").command_args("report", USAGE, "RUN_DIR or DUMP", { ... },
    { ["-o"] = "out", ["--out"] = "out", ["--title"] = "title" })
  if not src then return o end
  local out, title = o.out, o.title
  local C = require("tempera.ffi").C
  local report = require "tempera.report"
  local plot = require "tempera.plot"
  local ok, err = pcall(function()
    local rep
    if C.tp_is_dir(src) ~= 0 then
      out = out or (src:gsub("/+$", "") .. "/report")
      rep = report.new{ out = out, title = title or ("tempera run " .. src) }
      rep:run_dir(src)
    else
      local f = io.open(src, "rb")
      if not f then error(src .. ": no such file or directory", 0) end
      f:close()
      local d, derr = require("tempera.dump").read(src)
      if not d then error(derr, 0) end
      d:close()
      out = out or (src:gsub("%.tpd$", "") .. "-report")
      rep = report.new{ out = out, title = title or ("tempera dump " .. (src:match("([^/]+)$") or src)) }
      rep:dump(src)
    end
    if not plot.terminal_kind() then
      rep:text("Note: gnuplot was not found, so no pictures were drawn; the data files are in this directory (make deps installs gnuplot).")
    end
    local path = rep:write()
    io.stdout:write("tempera: report written to ", path, " (and report.html, ", rep.figures, " pictures)\n")
  end)
  if not ok then
    io.stderr:write("tempera: report: ", tostring(err), "\n")
    return 1
  end
  return 0
end

return M
