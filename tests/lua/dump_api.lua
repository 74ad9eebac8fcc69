-- tests/lua/dump_api.lua: the tp.dump Lua API -- round trip through
-- append (numbers, tables, FFI arrays) and append_batch, chunk iteration
-- and load, header metadata, resume, damage reporting, argument errors.
local tp = require "tempera"
local ffi = require "ffi"

local path = "api.tpd"
os.remove(path)
local fields = {
  { name = "config", type = "config", states = 3, shape = { 3, 3 } },
  { name = "bits", type = "config", states = 2, width = 11 },
  { name = "energy", type = "f64" },
  { name = "cv", type = "f64", width = 2 },
  { name = "logw", type = "f32" },
  { name = "chain", type = "i32" },
  { name = "step", type = "i64" },
}
local w = tp.dump.open(path, { fields = fields, chunk = 4, lattice = "square 3x3", model = "potts q=3",
                               meta = { note = "hello" } })
local rng = tp.rng(5)
local want = {}
for k = 1, 10 do
  local cfg = {}
  for i = 1, 9 do cfg[i] = rng:below(3) end
  local bits = ffi.new("uint8_t[11]")
  for i = 0, 10 do bits[i] = rng:below(2) end
  local rec = { config = cfg, bits = bits, energy = rng:normal(), cv = { rng:uniform(), -k },
                logw = 0.5 * k, chain = k % 3 - 1, step = 2^40 + k }
  w:append(rec)
  local b = {}
  for i = 0, 10 do b[i + 1] = bits[i] end
  rec.bits = b
  want[k] = rec
end
assert(w:records() == 10 and w:chunks() == 2 and w:records_written() == 8, "counts before close")
-- a batch of 3 from FFI arrays
local n = 3
local cols = {
  config = ffi.new("uint8_t[?]", n * 9), bits = ffi.new("uint8_t[?]", n * 11), energy = ffi.new("double[?]", n),
  cv = ffi.new("double[?]", n * 2), logw = ffi.new("float[?]", n), chain = ffi.new("int32_t[?]", n),
  step = ffi.new("int64_t[?]", n),
}
for k = 0, n - 1 do
  local rec = { config = {}, bits = {}, energy = k + 0.25, cv = { k, k + 1 }, logw = -k, chain = 7, step = k }
  for i = 0, 8 do cols.config[k * 9 + i] = (i + k) % 3; rec.config[i + 1] = (i + k) % 3 end
  for i = 0, 10 do cols.bits[k * 11 + i] = (i * k) % 2; rec.bits[i + 1] = (i * k) % 2 end
  cols.energy[k], cols.cv[2 * k], cols.cv[2 * k + 1] = rec.energy, k, k + 1
  cols.logw[k], cols.chain[k], cols.step[k] = -k, 7, k
  want[#want + 1] = rec
end
w:append_batch(n, cols)
w:close()
w:close()   -- closing twice is harmless
assert(not pcall(w.append, w, want[1]), "append after close must raise")

local function check_record(t, r, rec)
  for i = 1, 9 do assert(t.config[r * 9 + i - 1] == rec.config[i], "config") end
  for i = 1, 11 do assert(t.bits[r * 11 + i - 1] == rec.bits[i], "bits") end
  assert(t.energy[r] == rec.energy, "energy")
  assert(t.cv[2 * r] == rec.cv[1] and t.cv[2 * r + 1] == rec.cv[2], "cv")
  assert(t.logw[r] == rec.logw, "logw")
  assert(t.chain[r] == rec.chain, "chain")
  assert(t.step[r] == rec.step, "step " .. tostring(t.step[r]))
end

local d = assert(tp.dump.read(path))
assert(d.version == 1)
assert(#d.fields == 7 and d.fields[1].shape[2] == 3 and d.fields[1].states == 3, "schema")
assert(d.fields[4].width == 2 and d.fields[7].type == "i64", "schema types")
assert(d.meta.lattice == "square 3x3" and d.meta.model == "potts q=3" and d.meta.note == "hello", "metadata")
assert(d.meta.tempera == tp.version, "version recorded")
assert(d.meta.seed == string.format("%d", tp.seed()), "seed recorded")
if d.meta.recipe then assert(#d.meta.recipe_sha256 == 64, "recipe hash") end
local t, err = d:load()
assert(err == nil, err)
assert(t.n == 13, "13 records, got " .. t.n)
for r = 0, 12 do check_record(t, r, want[r + 1]) end
assert(d.complete == true, "closed dump")
-- chunk iteration: 4 + 4 + 4 (3 flushed at close: 2 buffered + ... ) and selected fields
d:rewind()
local total, idx = 0, 0
for c in d:chunks() do
  assert(c.index == idx and c.first == total, "chunk numbering")
  local e = c:get("energy")
  for k = 0, c.n - 1 do assert(e[k] == want[c.first + k + 1].energy) end
  -- a slice of the chunk: records 1..c.n-1 of the configurations, unpacked alone
  if c.n > 1 then
    local all, part = c:get("config"), c:get("config", nil, 1, c.n - 1)
    assert(ffi.sizeof(part) == (c.n - 1) * 9, "slice size")
    for k = 0, (c.n - 1) * 9 - 1 do assert(part[k] == all[9 + k], "slice of configurations") end
  end
  local okr, errr = pcall(c.get, c, "energy", nil, c.n, 1)
  assert(not okr and errr:find("outside the chunk") and errr:find("dump_api.lua:%d+"), tostring(errr))
  total, idx = total + c.n, idx + 1
end
assert(total == 13 and d.error == nil)
-- seek
assert(d:seek(2))
local c = d:next_chunk()
assert(c and c.index == 2, "seek to chunk 2")
local part = assert(d:load{ "step" })
assert(part.n == 13 and part.energy == nil and part.step[12] == 2, "load selected fields")
local ok, msg = pcall(d.load, d, { "nope" })
assert(not ok and msg:find("no field 'nope'") and msg:find("dump_api.lua:%d+"), msg)
d:close()

-- resume: append two more records to the closed dump
local w2 = tp.dump.open(path, { fields = fields, append = true })
assert(w2:records() == 13, "resume continues numbering")
w2:append(want[1]); w2:append(want[2])
w2:close()
d = assert(tp.dump.read(path))
t = assert(d:load())
assert(t.n == 15, "15 records after resume")
check_record(t, 13, want[1])
check_record(t, 14, want[2])
d:close()

-- damage: flip a byte near the end; load returns the intact records and the message
local f = assert(io.open(path, "rb"))
local bytes = f:read("*a")
f:close()
local pos = #bytes - 80
local damaged = bytes:sub(1, pos - 1) .. string.char((bytes:byte(pos) + 1) % 256) .. bytes:sub(pos + 1)
f = assert(io.open("bad.tpd", "wb"))
f:write(damaged)
f:close()
d = assert(tp.dump.read("bad.tpd"))
t, err = d:load{ "energy" }
assert(err and err:find("at byte %d+"), "damage reported: " .. tostring(err))
assert(t.n > 0 and t.n < 15, "intact records before the damage: " .. t.n)
for r = 0, t.n - 1 do assert(t.energy[r] == (want[r + 1] or {}).energy or r >= 13) end
assert(d.error_offset and d.error_offset <= pos, "error offset")
-- salvage past the damage: here the damage is in the last chunk, so only
-- the end entry follows
assert(d:resync() == true, "resync finds the end entry")
assert(d:next_chunk() == nil and d.error == nil and d.complete == true, "clean end after resync")
d:close()

-- a writer nobody closes is closed when collected: its records are kept
do
  local lost = tp.dump.open("gc.tpd", { fields = { { name = "e", type = "f64" } } })
  for k = 1, 3 do lost:append{ e = k } end
end
collectgarbage(); collectgarbage()
d = assert(tp.dump.read("gc.tpd"))
t = assert(d:load())
assert(t.n == 3 and t.e[2] == 3, "records of a collected writer")
assert(d.complete, "closed at collection")
d:close()
os.remove("gc.tpd")

-- expected failures return nil, msg; wrong arguments raise at this line
local none, why = tp.dump.read("missing.tpd")
assert(none == nil and why:find("cannot open"), why)
local okw, e1 = pcall(tp.dump.open, "x.tpd", { fields = fields, levle = 3 })
assert(not okw and e1:find("unknown option 'levle'"), e1)
okw, e1 = pcall(tp.dump.open, "x.tpd", { fields = { { name = "c", type = "config" } } })
assert(not okw and e1:find("needs states"), e1)
okw, e1 = pcall(tp.dump.open, "x.tpd", { fields = { { name = "c", type = "complex" } } })
assert(not okw and e1:find("type must be one of"), e1)
w = tp.dump.open("x.tpd", { fields = fields })
okw, e1 = pcall(w.append, w, { config = {} })
assert(not okw and e1:find("expects 9 values"), e1)
local rec = want[1]
rec.config = { 0, 1, 2, 3, 0, 0, 0, 0, 0 }   -- 3 is not a state of a q=3 config
okw, e1 = pcall(w.append, w, rec)
assert(not okw and e1:find("has state 3") and e1:find("dump_api.lua:%d+"), e1)
w:close()
os.remove("x.tpd")
os.remove("bad.tpd")
os.remove(path)

-- two writers on one path: the second is refused (it used to replace the
-- first's file, both exiting 0), and the first one's records survive
do
  local F = { { name = "e", type = "f64" } }
  local w1 = tp.dump.open("twice.tpd", { fields = F })
  w1:append{ e = 1 }
  local ok, err = pcall(tp.dump.open, "twice.tpd", { fields = F })
  assert(not ok and tostring(err):find("is being written by another process", 1, true), tostring(err))
  local ok2, err2 = pcall(tp.dump.open, "twice.tpd", { fields = F, append = true })
  assert(not ok2 and tostring(err2):find("being written by another process", 1, true), tostring(err2))
  w1:append{ e = 2 }
  w1:close()
  local r = assert(tp.dump.read("twice.tpd"))
  local t2 = r:load()
  assert(t2.n == 2 and t2.e[1] == 2, "the first writer's records were lost")
  r:close()
  -- once closed, a new writer may replace the file
  local w3 = tp.dump.open("twice.tpd", { fields = F })
  w3:close()
end
