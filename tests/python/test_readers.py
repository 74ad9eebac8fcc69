"""The Python readers (python/tempera) against what the C side wrote.

Run by tests/check_python.c as: PYTHON tests/python/test_readers.py SCRATCH
with TEMPERA_BIN the built binary and PYTHONPATH holding python/.  Makes a
dump of every field type and state count, a training log and a checkpoint
with the binary, then checks: every value against 'tempera dump csv' (exact
text), streaming equal to the whole read, the header (recipe, seed), Ising
spins, damage and truncation detected with the byte offset (and partial
reads), the log's columns against its lines, and the checkpoint's network
and slots (the bias state serialised by C) against the values the recipe
printed.  Exits non-zero on the first failure.
"""
import os
import subprocess
import sys

import numpy as np

import tempera

scratch = sys.argv[1]
binary = os.environ["TEMPERA_BIN"]
os.chdir(scratch)

RECIPE = r'''
local tp = require "tempera"
local ffi = require "ffi"
local fields = {
  { name = "spins", type = "config", states = 2, shape = { 3, 5 } },
  { name = "potts", type = "config", states = 3, width = 7 },
  { name = "bytes", type = "config", states = 200, width = 3 },
  { name = "e", type = "f64" }, { name = "v", type = "f64", width = 2 },
  { name = "s", type = "f32" }, { name = "k", type = "i32" }, { name = "t", type = "i64" },
}
local w = tp.dump.open("all.tpd", { fields = fields, chunk = 7, meta = { note = "from python test" } })
local r = tp.rng(5)
for i = 0, 40 do
  local sp, po, by = {}, {}, {}
  for j = 1, 15 do sp[j] = r:below(2) end
  for j = 1, 7 do po[j] = r:below(3) end
  for j = 1, 3 do by[j] = r:below(200) end
  w:append{ spins = sp, potts = po, bytes = by, e = r:uniform() * 10 - 5, v = { i, -i / 3 },
            s = i / 7, k = -i * 1000, t = i * 2 ^ 40 }
end
w:close()
-- a trainer: log and checkpoint with a bias and a replay buffer
local lat = tp.lattice.square(3)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local bias = tp.bias.grid{ cv = m, points = 19, sigma = 0.1, height = 0.5, beta = 0.5 }
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 8, depth = 1, heads = 2, seed = 2, backend = "cpu" }
local tr = tp.train.metadns{ net = net, model = model, beta = 0.5, bias = bias, batch = 8, replicates = 2,
  resample_every = 2, steps = 6, replay = { size = 32 }, log = "t.log", checkpoint = "t.ckpt", progress = false }
tr:close()
print(string.format("params %d hills %d", net.num_params, bias:info().nhills))
local v = bias:values()
print(string.format("bias %.17g %.17g", v[0], v[9]))
'''
with open("make.lua", "w") as f:
    f.write(RECIPE)
out = subprocess.run([binary, "run", "make.lua", "--seed", "7"], capture_output=True, text=True)
assert out.returncode == 0, out.stderr
printed = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line and not line.startswith("#"))


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


# ---- every value against 'tempera dump csv' --------------------------------------------
fields, meta = tempera.read_dump("all.tpd")
csv = subprocess.run([binary, "dump", "csv", "all.tpd"], capture_output=True, text=True, check=True).stdout.splitlines()
header = csv[0].split(",")
if len(csv) - 1 != 41 or meta["_records"] != 41 or not meta["_complete"]:
    fail("41 records expected, csv %d, python %d" % (len(csv) - 1, meta["_records"]))


def text(name, arr, i):
    f = next(f for f in meta["_fields"] if f["name"] == name)
    x = arr[i]
    if f["type_name"] == "config":
        flat = np.asarray(x).reshape(-1)
        return "".join(str(v) for v in flat) if f["states"] <= 10 else ":".join(str(v) for v in flat)
    vals = np.atleast_1d(x).reshape(-1)
    fmt = {"f64": "%.17g", "f32": "%.9g"}.get(f["type_name"])
    return [fmt % float(v) if fmt else str(int(v)) for v in vals]


for i in range(41):
    row = csv[i + 1].split(",")
    got = [str(i)]
    for f in meta["_fields"]:
        t = text(f["name"], fields[f["name"]], i)
        got += [t] if isinstance(t, str) else t
    if got != row:
        fail("record %d: python %s, csv %s" % (i, got, row))
if fields["spins"].shape != (41, 3, 5) or fields["spins"].dtype != np.uint8:
    fail("config shape %s" % (fields["spins"].shape,))
if fields["v"].shape != (41, 2) or fields["e"].shape != (41,) or fields["t"][40] != 40 * 2 ** 40:
    fail("numeric fields")
sp = tempera.ising_spins(fields["spins"])
if set(np.unique(sp).tolist()) - {-1, 1} or not np.array_equal(sp == 1, fields["spins"] == 1):
    fail("Ising spins")
if meta["note"] != "from python test" or meta["seed"] != "7" or "tp.dump.open" not in meta["recipe"]:
    fail("metadata: %s" % {k: meta[k] for k in meta if not k.startswith("_")})

# ---- streaming equals the whole read; a subset of fields -------------------------------
firsts, es = [], []
for first, cols in tempera.iter_dump("all.tpd"):
    firsts.append(first)
    es.append(cols["e"])
if firsts != list(range(0, 41, 7)) or not np.array_equal(np.concatenate(es), fields["e"]):
    fail("streaming by chunk: %s" % firsts)
sub, _ = tempera.read_dump("all.tpd", fields=["k"])
if list(sub) != ["k"] or not np.array_equal(sub["k"], fields["k"]):
    fail("subset of fields")

# ---- damage: every flipped byte after the header is caught, with its offset ------------
data = open("all.tpd", "rb").read()
hdr_end = 64 + int.from_bytes(data[44:48], "little")   # header entry + frame
rng = np.random.default_rng(3)
for trial in range(60):
    b = bytearray(data)
    at = int(rng.integers(hdr_end, len(b)))
    b[at] ^= 1 << int(rng.integers(0, 8))
    with open("bad.tpd", "wb") as f:
        f.write(b)
    try:
        tempera.read_dump("bad.tpd")
        fail("flipped byte %d not detected" % at)
    except tempera.TemperaFormatError as err:
        if err.offset is None or err.offset > at:
            fail("damage at %d reported at %s" % (at, err.offset))
    good, m2 = tempera.read_dump("bad.tpd", partial=True)
    n = len(good["e"])
    if n > 41 or not np.array_equal(good["e"], fields["e"][:n]) or "_damage" not in m2:
        fail("partial read after damage at %d" % at)
# a torn end (a writer killed mid-chunk): the whole chunks before it
with open("torn.tpd", "wb") as f:
    f.write(data[:len(data) - 100])
try:
    tempera.read_dump("torn.tpd")
    fail("a torn dump was read whole")
except tempera.TemperaFormatError as err:
    if "truncated" not in str(err):
        fail("torn end: %s" % err)
good, m3 = tempera.read_dump("torn.tpd", partial=True)
if len(good["e"]) != 35 or m3["_complete"]:
    fail("torn end: %d records kept" % len(good["e"]))

# ---- the training log ---------------------------------------------------------------------
log = tempera.read_log("t.log")
lines = [l.split() for l in open("t.log") if l.strip() and not l.startswith("#")][1:]
if list(log["step"]) != list(range(1, 7)) or log["loss"].dtype != np.float64:
    fail("log steps %s" % list(log["step"]))
if not all(float(lines[i][3]) == log["loss"][i] for i in range(6)) or "MetaDNS" not in log["_title"]:
    fail("log values")
# a plain CSV reader takes the column line as its header ('#' lines are comments)
import csv
rows = list(csv.DictReader((l for l in open("t.log") if not l.startswith("#")), delimiter=" "))
if len(rows) != 6 or [int(r["step"]) for r in rows] != list(range(1, 7)) or \
        float(rows[5]["loss"]) != log["loss"][5] or int(rows[5]["hills"]) != log["hills"][5]:
    fail("csv.DictReader on the log: %s" % rows[:1])

# ---- the checkpoint -----------------------------------------------------------------------
ck = tempera.read_checkpoint("t.ckpt")
npar = int(printed["params"].split()[0])
hills = int(printed["params"].split()[2])
if ck["config"]["sites"] != 9 or ck["config"]["embed"] != 8 or ck["step"] != 6 or len(ck["params"]) != npar:
    fail("checkpoint network: %s step %d params %d" % (ck["config"], ck["step"], len(ck["params"])))
if ck["coords"].shape != (9, 2) or not np.isfinite(ck["ema"]).all():
    fail("checkpoint arrays")
bias = ck["slots"]["bias"]
v0, v9 = (float(x) for x in printed["bias"].split())
if bias[0] != 1651073395 or bias[8] != hills or bias[12 + 6] != v0 or bias[12 + 6 + 9] != v9:
    fail("bias slot: magic %g hills %g (want %d), V %r %r" % (bias[0], bias[8], hills, bias[18], bias[27]))
if set(ck["slots"]) < {"train", "bias", "replay"}:
    fail("slots %s" % list(ck["slots"]))
raw = bytearray(open("t.ckpt", "rb").read())
raw[100] ^= 4
open("bad.ckpt", "wb").write(raw)
try:
    tempera.read_checkpoint("bad.ckpt")
    fail("a damaged checkpoint was read")
except tempera.TemperaFormatError as err:
    if "hash" not in str(err):
        fail("damaged checkpoint: %s" % err)
print("python readers: dump (41 records, 8 field types) equal to 'tempera dump csv', 60 damaged copies caught, "
      "log and checkpoint read")
