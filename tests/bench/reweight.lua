-- tests/bench/reweight.lua: reweighting and histogramming throughput.
--   bin/tempera run tests/bench/reweight.lua [--set n=N] [--set chunk=C] [--set backend=cuda]
-- Data: n (default 10 million) samples of a CV value m in [-1, 1] with
-- log-weights spread over +-50, written to a dump (f64 columns, zstd level
-- 1) in a scratch directory and streamed back chunk by chunk.  Timed:
--   read      decompressing the two columns only (the floor for streaming);
--   stream    read + weighted moments + weighted 100-bin histogram;
--   memory    the same two kernels on arrays already in memory (CPU, and
--             CUDA when a device is present: host arrays staged per call);
--   bootstrap the same histogram with 20 Poisson-bootstrap replicates
--             (timed on the first 2 million samples).
-- numpy does the same computation side by side when python3 can import it
-- (a subprocess over the same numbers, saved as raw doubles).  Rates are
-- samples per second.  About 10 s on 2 cores for 10 million.
-- backend=cuda times the stream and the bootstrap through the CUDA twins
-- (checked against the CPU); without a device it prints "skipped: no CUDA
-- device" and stops.
local tp = require "tempera"
local ffi = require "ffi"
local C = require("tempera.ffi").C
local A = tp.analysis
local P = tp.params{ n = 10000000, chunk = 262144, seed = 1, backend = "cpu" }
local n, chunk = P.n, P.chunk
assert(P.backend == "cpu" or P.backend == "cuda", "backend must be 'cpu' or 'cuda'")
if P.backend == "cuda" and (C.tp_cuda_compiled() == 0 or C.tp_cuda_device_count() <= 0) then
  print("skipped: no CUDA device")
  return
end
local B = P.backend

local dir = string.format("%s/tempera_bench_reweight_%d", os.getenv("TMPDIR") or "/tmp", os.time())
assert(C.tp_mkdir_p(dir) == 0)
local path = dir .. "/bench.tpd"

-- data, generated chunk by chunk (never all in memory for the dump)
local rng = tp.rng(1)
local w = tp.dump.open(path, { fields = { { name = "m", type = "f64" }, { name = "logw", type = "f64" } },
  level = 1, chunk = chunk })
local m, lw = ffi.new("double[?]", chunk), ffi.new("double[?]", chunk)
local t0 = C.tp_clock()
local left = n
while left > 0 do
  local k = math.min(chunk, left)
  for i = 0, k - 1 do
    local x = rng:uniform() * 2 - 1
    m[i], lw[i] = x, 50 * x * x - 25 * x     -- any smooth log-weight
  end
  w:append_batch(k, { m = m, logw = lw })
  left = left - k
end
w:close()
local t_write = C.tp_clock() - t0
local f = io.open(path, "rb"); local bytes = f:seek("end"); f:close()
print(string.format("# %d samples, dump %.1f MB (written in %.2f s incl. generation), %d threads",
  n, bytes / 1e6, t_write, tp.threads()))
print("# (on a machine busier than its cores, TEMPERA_THREADS=1 avoids OpenMP barrier stalls)")

local function rate(t) return string.format("%8.1f M/s", n / t / 1e6) end

-- read only
local d = assert(tp.dump.read(path))
local bm, bl = ffi.new("double[?]", chunk), ffi.new("double[?]", chunk)
t0 = C.tp_clock()
for c in d:chunks() do c:get("m", bm); c:get("logw", bl) end
local t_read = C.tp_clock() - t0

-- stream: read + moments + histogram
local function stream(backend)
  local st, h = A.stats{ backend = backend }, A.hist{ range = { -1, 1 }, bins = 100, backend = backend }
  d:rewind()
  local t = C.tp_clock()
  for c in d:chunks() do
    c:get("m", bm); c:get("logw", bl)
    st:add(bm, bl, c.n)
    h:add(bm, bl, c.n)
  end
  return C.tp_clock() - t, st:summary(), h
end
local t_stream, s_stream, h_stream = stream(B)

-- memory: load everything, then time the kernels alone
local all = d:load{ "m", "logw" }
d:close()
local function memory(backend)
  local st, h = A.stats{ backend = backend }, A.hist{ range = { -1, 1 }, bins = 100, backend = backend }
  local t = C.tp_clock()
  for at = 0, n - 1, chunk do
    local k = math.min(chunk, n - at)
    st:add(all.m + at, all.logw + at, k)
    h:add(all.m + at, all.logw + at, k)
  end
  return C.tp_clock() - t, st:summary(), h
end
local t_mem, s_mem = memory("cpu")
local nb = math.min(n, 2000000)          -- the bootstrap is timed on the first 2 million
local function boot(backend)
  local hb = A.hist{ range = { -1, 1 }, bins = 100, bootstrap = 20, backend = backend }
  local t = C.tp_clock()
  for at = 0, nb - 1, chunk do
    local k = math.min(chunk, nb - at)
    hb:add(all.m + at, all.logw + at, k)
  end
  return (C.tp_clock() - t) * n / nb, hb
end
local t_boot, hb = boot(B)
if B == "cuda" then                      -- same Poisson draws: the CPU's replicates up to summation order
  local _, hc = boot("cpu")
  for k = 0, 20 * 100 - 1 do
    assert(math.abs(hb.bh[k] - hc.bh[k]) <= 1e-9 * (1 + math.abs(hc.bh[k])), "CUDA bootstrap differs from the CPU")
  end
end

print(string.format("%-34s %s", "read (decompress 2 columns)", rate(t_read)))
print(string.format("%-34s %s  (%.2f s)", "stream: read + moments + histogram" .. (B == "cuda" and ", CUDA" or ""),
  rate(t_stream), t_stream))
print(string.format("%-34s %s  (%.2f s)", "memory: moments + histogram, CPU", rate(t_mem), t_mem))
print(string.format("%-34s %s  (%.2f s)", "memory: histogram, 20 bootstraps" .. (B == "cuda" and ", CUDA" or ""),
  rate(t_boot), t_boot))
assert(math.abs(s_stream.mean - s_mem.mean) < 1e-9 and math.abs(s_stream.ness - s_mem.ness) < 1e-9, "stream and memory disagree")
print(string.format("# check: NESS %.6f, weighted mean %.6f", s_mem.ness, s_mem.mean))

if C.tp_cuda_compiled() ~= 0 and C.tp_cuda_device_count() > 0 then
  memory("cuda")                                   -- warm-up (context, scratch)
  local t_gpu, s_gpu = memory("cuda")
  print(string.format("%-34s %s  (%.2f s)", "memory: moments + histogram, CUDA", rate(t_gpu), t_gpu))
  assert(math.abs(s_gpu.mean - s_mem.mean) < 1e-9 * (1 + math.abs(s_mem.mean)))
else
  print("CUDA: skipped (no device)")
end

-- numpy side by side, on the same numbers
local has_numpy = os.execute("python3 -c 'import numpy' >/dev/null 2>&1")
if has_numpy == 0 or has_numpy == true then
  local raw = dir .. "/bench.f64"
  local o = io.open(raw, "wb")
  o:write(ffi.string(all.m, n * 8)); o:write(ffi.string(all.logw, n * 8)); o:close()
  local py = string.format([[
import numpy as np, time
a = np.fromfile(%q, dtype=np.float64); n = a.size // 2; m, lw = a[:n], a[n:]
t = time.perf_counter()
mx = lw.max(); w = np.exp(lw - mx); sw = w.sum(); mean = (w * m).sum() / sw
var = (w * (m - mean) ** 2).sum() / sw; ness = sw * sw / (n * (w * w).sum())
h, _ = np.histogram(m, bins=100, range=(-1, 1), weights=w)
dt = time.perf_counter() - t
print("%%-34s %%8.1f M/s  (%%.2f s)   NESS %%.6f" %% ("numpy: moments + histogram", n / dt / 1e6, dt, ness))
]], raw)
  local p = io.popen("python3 -c " .. "'" .. py:gsub("'", "'\\''") .. "'")
  io.stdout:write(p:read("*a"))
  p:close()
else
  print("numpy: skipped (python3 cannot import numpy)")
end
os.execute("rm -rf '" .. dir .. "'")
