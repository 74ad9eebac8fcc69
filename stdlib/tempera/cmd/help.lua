-- tempera.cmd.help: 'tempera help TOPIC' prints the help text of a stdlib
-- object, e.g. 'tempera help rng' or 'tempera help tempera.params'.
local M = {}

function M.main(topic, ...)
  if select("#", ...) > 0 then
    io.stderr:write("tempera: help takes one topic\n")
    return 2
  end
  local text, err = require("tempera.repl").help_text(topic)
  if not text then
    io.stderr:write("tempera: ", err, "\n")
    return 1
  end
  io.stdout:write(text, "\n")
  return 0
end

return M
