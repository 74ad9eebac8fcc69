-- tp.plumed: COLVAR round trip, HILLS recorder on a real bias, read back,
-- summed hills equal the bias grid (the C side is in check_plumed.c).
local tp = require "tempera"
local ffi = require "ffi"
local C = ffi.C
local P = tp.plumed

local dir = os.getenv("TMPDIR") or "/tmp"
local base = string.format("%s/analysis_plumed_%d_%d", dir, os.time(), math.random(1e6))

-- COLVAR
P.write(base .. ".colvar", { fields = { "time", "m", "metad.bias" },
  columns = { time = { 1, 2, 3 }, m = { 0.5, -0.25, 1 / 3 }, ["metad.bias"] = { 0, 0.1, 0.2 } },
  set = { min_m = -1 } })
local t = assert(P.read(base .. ".colvar"))
assert(t.rows == 3 and t.fields[3] == "metad.bias" and t.set.min_m == "-1")
assert(t:list("m")[3] == 1 / 3)
local none, err = P.read(base .. ".missing")
assert(none == nil and err:find("No such file"), err)

-- a well-tempered bias (C handle), recorded hill by hill
local lo, hi, pts, sig = ffi.new("double[1]", -1), ffi.new("double[1]", 1), ffi.new("int32_t[1]", 129), ffi.new("double[1]", 0.1)
local b = ffi.gc(C.tp_bias_init(1, lo, hi, pts, sig, 1.0, 10, 2.0, C.TP_BIAS_GAUSSIAN), C.tp_bias_free)
local rec = P.hills(base .. ".hills", { bias = b, cv = { "m" } })
local r = tp.rng{ seed = 1, stream = 4 }
for _ = 1, 5 do
  local s = {}
  for i = 1, 8 do s[i] = r:uniform() * 1.2 - 0.6 end
  rec:deposit(s, 8)
end
assert(rec.hills == 40)
local h = assert(P.read_hills(base .. ".hills"))
assert(h.n == 40 and h.dim == 1 and h.cv[1] == "m" and h.bias_factor == 10)
assert(math.abs(h.heights[0] - 1.0 / 8) < 1e-15)     -- deposited height, not the file's 10/9 * that
local V, size = h:sum_bias(b)
assert(size == 129)
local vb = C.tp_bias_values(b)
local vmax = 0
for j = 0, size - 1 do
  assert(math.abs(V[j] - vb[j]) <= 1e-10 * (1 + math.abs(vb[j])), j)
  vmax = math.max(vmax, vb[j])
end
assert(vmax > 0.3)
local ok, e = pcall(tp.analysis.pmf_from_bias, vb, 10)   -- FFI pointer without n
assert(not ok and e:find("give n"), e)
local F = tp.analysis.pmf_from_bias(b)                   -- the bias's own PMF
assert(#F == 129)
local fmin = math.huge
for j = 1, 129 do fmin = math.min(fmin, F[j]) end
assert(fmin == 0 and math.abs(F[65] - (-10 / 9) * (vb[64] - vmax)) < 1e-9)
os.remove(base .. ".colvar"); os.remove(base .. ".hills")
