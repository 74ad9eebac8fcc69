-- `tempera dump verify` on a dump whose writer is still at work: a torn
-- last frame (the writer mid-write) is "still being written", exit 0, not
-- DAMAGED (it was reported damaged in 1 of 5 probes of a live run).
local tp = require "tempera"
local ffi = require "ffi"
local bin = assert(os.getenv("TEMPERA_BIN"), "TEMPERA_BIN")
local function verify(path)
  local p = assert(io.popen(string.format("'%s' dump verify %s 2>&1; echo \"rc=$?\"", bin, path)))
  local out = p:read("*a")
  p:close()
  return out
end
local F = { { name = "e", type = "f64" } }
local w = tp.dump.open("live.tpd", { fields = F, chunk = 4 })
for k = 1, 8 do w:append{ e = k } end
w:flush()
local f = assert(io.open("live.tpd", "ab"))
f:write(string.rep("\0", 40))   -- the start of a frame the writer has not finished
f:close()
local out = verify("live.tpd")
assert(out:find("still being written: 2 chunks, 8 records so far", 1, true) and out:find("rc=0", 1, true), out)
