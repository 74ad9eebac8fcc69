-- tempera.progress: progress lines for long loops (stderr; a redrawn line on
-- a terminal, a plain line every 10 s otherwise, nothing with --quiet).
--   local p = tp.progress{ label = "sweeps", total = n }
--   for i = 1, n do ...; p:update(i) end
--   p:finish()
-- update() also checks for Ctrl-C and raises "interrupted".
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local Progress = {}
Progress.__index = Progress

function Progress:update(done, extra)
  if C.tp_interrupted() ~= 0 then util.check(1) end
  C.tp_progress_update(self.p, done, extra)
end

function Progress:finish()
  C.tp_progress_finish(self.p)
end

Progress.__tostring = function(self) return "tp.progress(" .. self.label .. ")" end

local function new(opts)
  local o = util.options("tp.progress", opts, {
    label = { type = "string", default = "progress" },
    total = { type = "number", default = 0 },
  })
  local p = util.check_ptr(C.tp_progress_init(o.label, o.total))
  return setmetatable({ p = ffi.gc(p, C.tp_progress_free), label = o.label, total = o.total }, Progress)
end

util.doc(new, [[
tp.progress{ label = "sweeps", total = N }
  p:update(done [, text]) reports progress (and raises on Ctrl-C);
  p:finish() prints the final line.  Silent with --quiet.]])

return new
