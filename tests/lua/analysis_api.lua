-- tp.analysis: the Lua API over arrays and dumps, against direct
-- computations written out here (the C kernels have their own tests in
-- check_reweight.c; this checks marshalling, options and the dump loop).
local tp = require "tempera"
local ffi = require "ffi"
local A = tp.analysis

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-10) * (1 + math.abs(b)) end

-- random data from a fixed stream
local r = tp.rng{ seed = 3, stream = 1 }
local n = 1000
local x, lw = ffi.new("double[?]", n), ffi.new("double[?]", n)
local xs, lws = {}, {}
for i = 0, n - 1 do
  x[i] = r:normal() * 2 + 5
  lw[i] = r:uniform() * 2e4 - 1e4          -- extreme log-weights
  xs[i + 1], lws[i + 1] = x[i], lw[i]
end

-- direct: weights relative to the largest log-weight
local mx = -math.huge
for i = 1, n do mx = math.max(mx, lws[i]) end
local sw, sw2, swx = 0, 0, 0
for i = 1, n do
  local w = math.exp(lws[i] - mx)
  sw, sw2, swx = sw + w, sw2 + w * w, swx + w * xs[i]
end
local mean = swx / sw
local var = 0
for i = 1, n do var = var + math.exp(lws[i] - mx) * (xs[i] - mean) ^ 2 end
var = var / sw

-- FFI arrays and Lua lists give the same answers
local st = A.stats()
st:add(x, lw, 400):add(x + 400, lw + 400, 600)
local s = st:summary()
assert(s.n == n)
assert(close(s.mean, mean) and close(s.var, var), s.mean .. " " .. mean)
assert(close(s.ness, sw * sw / (n * sw2)))
assert(close(s.log_z, mx + math.log(sw / n)))
local s2 = A.stats():add(xs, lws):summary()
assert(close(s2.mean, s.mean, 1e-12) and close(s2.var, s.var, 1e-12))
assert(close(A.logsumexp(lws), mx + math.log(sw)))
assert(close(A.ness(lw, n), s.ness))
local w = A.normalize(lw, n)
local tot = 0
for i = 0, n - 1 do assert(w[i] >= 0); tot = tot + w[i] end
assert(close(tot, 1))

-- bootstrap errors exist and are positive
local sb = A.stats{ bootstrap = 50, seed = 2 }:add(x, nil, n):summary()
assert(sb.err and sb.err.mean > 0 and sb.err.mean < 0.2, tostring(sb.err and sb.err.mean))
assert(close(sb.ness, 1) and close(sb.log_z, 0, 1e-12))
local C, dC = A.heat_capacity(sb, 0.5, 16)
assert(close(C, 0.25 * sb.var / 16) and dC > 0)

-- histograms: one bin per value
local h = A.hist{ range = { -1, 1 }, step = 0.5 }
assert(h.bins == 5 and close(h.lo, -1.25) and close(h.hi, 1.25))
h:add({ -1, -0.5, -0.5, 1, 7 })
local c = h:counts()
assert(close(c[1], 0.25) and close(c[2], 0.5) and c[3] == 0 and close(c[5], 0.25))
local Fv = h:pmf(1.0)
assert(close(Fv[2], 0) and close(Fv[1], math.log(2)) and Fv[3] == math.huge)
assert(close(A.js(h, h), 0, 1e-12))
assert(close(A.pmf_rmse({ 1, 2, 3 }, { 0, 1, 2 }), 0, 1e-12))
local G = A.pmf_from_bias({ 0, 1, 0.5 }, 10)
assert(close(G[2], 0) and close(G[1], 10 / 9))

-- 2-D histogram
local h2 = A.hist2d{ range = { { 0, 1 }, { 0, 1 } }, bins = { 2, 2 } }
h2:add({ 0.1, 0.1, 0.9, 0.1, 0.9, 0.9, 0.9, 0.8 })
local c2 = h2:counts()
assert(close(c2[1][1], 0.25) and close(c2[2][1], 0.25) and close(c2[2][2], 0.5) and c2[1][2] == 0)

-- correlations: an all-up configuration has g(r) = 1, connected 0
local cfg = ffi.new("uint8_t[16]", { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 })
local cr = A.corr{ L = 4 }:add(cfg, nil, 1):result()
assert(#cr.g == 3 and close(cr.g[2], 1) and close(cr.connected[3], 0) and close(cr.absm, 1))
local cp = A.corr{ L = 4, q = 3 }:add(cfg, nil, 1):result()
assert(close(cp.g[2], 1 - 1 / 3) and cp.connected == nil)

-- argument errors raise at this line
local ok, err = pcall(function() A.hist{ range = { 1, 0 }, bins = 3 } end)
assert(not ok and err:find("analysis_api.lua:%d+: analysis.hist: range"), err)
ok, err = pcall(function() A.stats():add(x, ffi.new("float[3]"), 3) end)
assert(not ok and err:find("expected doubles"), err)
ok, err = pcall(function() A.stats():add(x, { 0, 0 / 0, 1 }, 3) end)
assert(not ok and err:find("log%-weight 1"), err)

-- dumps: stream chunks, same answers as the arrays
local dir = os.getenv("TMPDIR") or "/tmp"
local path = string.format("%s/analysis_api_%d.tpd", dir, os.time())
local wr = tp.dump.open(path, { fields = { { name = "energy", type = "f64" }, { name = "logw", type = "f64" },
  { name = "cv", type = "f64", width = 2 } }, chunk = 128 })
local cv = ffi.new("double[?]", 2 * n)
for i = 0, n - 1 do cv[2 * i] = math.tanh(x[i] - 5); cv[2 * i + 1] = 0.5 end
wr:append_batch(n, { energy = x, logw = lw, cv = cv })
wr:close()
local res, derr = A.dump(path, { logw = "logw", stats = { "energy" },
  hist = { m = { field = "cv", range = { -1, 1 }, bins = 8 } },
  hist2d = { cv = { range = { { -1, 1 }, { 0, 1 } }, bins = { 4, 2 } } } })
assert(derr == nil and res.n == n)
assert(close(res.stats.energy.mean, mean) and close(res.weights.ness, s.ness))
local hd = A.hist{ range = { -1, 1 }, bins = 8 }:add(cv, lw, n, 2)
local a1, a2 = hd:counts(), res.hist.m:counts()
for i = 1, 8 do assert(close(a1[i], a2[i], 1e-12)) end
assert(close(res.hist2d.cv:counts()[4][2], a1[7] + a1[8], 1e-9))
local none, msg = A.dump(dir .. "/no_such_dump.tpd", {})
assert(none == nil and type(msg) == "string")
os.remove(path)
