-- tests/bench/dump.lua: dump write/read throughput and compression.
--   bin/tempera run tests/bench/dump.lua [--set samples=N] [--set level=L]
-- Data: Ising 16x16 at beta 0.6 (ordered) and 0.28 (disordered) and a
-- 4x4x4 two-state alloy (64 sites, ordering interaction on a simple cubic
-- lattice, fixed composition, Kawasaki swaps), made by a Metropolis loop
-- here, one sweep between samples.  For each: sampling time per sample,
-- dump write and read throughput in MB/s of raw configurations (one byte
-- per site), the file size against bit-packing alone, and the same bytes
-- unpacked through the zstd and gzip command-line tools (timed with the
-- process start, so slightly pessimistic for them).  Runs in ~10 s.
local tp = require "tempera"
local ffi = require "ffi"
local P = tp.params{ samples = 20000, level = 3, seed = 1 }
local C = require("tempera.ffi").C
local function clock() return C.tp_clock() end   -- wall clock, seconds

local function ising(L, beta, n, rng)
  local N = L * L
  local x = ffi.new("uint8_t[?]", N)
  for i = 0, N - 1 do x[i] = rng:below(2) end
  local out = ffi.new("uint8_t[?]", n * N)
  local e = ffi.new("double[?]", n)
  local acc = {}
  for d = -8, 8 do acc[d] = math.exp(-beta * d) end
  local function s(i) return 2 * x[i] - 1 end
  local t0 = clock()
  for k = 0, n - 1 do
    for _ = 1, N do
      local i = rng:below(N)
      local r, c = math.floor(i / L), i % L
      local nb = s(r * L + (c + 1) % L) + s(r * L + (c + L - 1) % L) + s(((r + 1) % L) * L + c) + s(((r + L - 1) % L) * L + c)
      local dE = 2 * s(i) * nb
      if dE <= 0 or rng:uniform() < acc[dE] then x[i] = 1 - x[i] end
    end
    ffi.copy(out + k * N, x, N)
    local E = 0
    for i = 0, N - 1 do
      local r, c = math.floor(i / L), i % L
      E = E - s(i) * (s(r * L + (c + 1) % L) + s(((r + 1) % L) * L + c))
    end
    e[k] = E
  end
  return out, e, N, clock() - t0
end

local function alloy(beta, n, rng)
  local L, N = 4, 64
  local x = ffi.new("uint8_t[?]", N)
  for i = 0, N - 1 do x[i] = i % 4 == 0 and 1 or 0 end   -- Cu3Au composition
  local function idx(a, b, c) return ((a % L) * L + (b % L)) * L + (c % L) end
  local function unlike(i)
    local a, b, c = math.floor(i / 16), math.floor(i / 4) % 4, i % 4
    local u = 0
    for _, d in ipairs{ idx(a + 1, b, c), idx(a + L - 1, b, c), idx(a, b + 1, c), idx(a, b + L - 1, c), idx(a, b, c + 1), idx(a, b, c + L - 1) } do
      if x[d] ~= x[i] then u = u + 1 end
    end
    return u
  end
  local out = ffi.new("uint8_t[?]", n * N)
  local e = ffi.new("double[?]", n)
  local t0 = clock()
  for k = 0, n - 1 do
    for _ = 1, N do
      local i, j = rng:below(N), rng:below(N)
      if x[i] ~= x[j] then
        local before = unlike(i) + unlike(j)
        x[i], x[j] = x[j], x[i]
        local dE = -(unlike(i) + unlike(j) - before)      -- unlike pairs are favoured
        if not (dE <= 0 or rng:uniform() < math.exp(-beta * dE)) then x[i], x[j] = x[j], x[i] end
      end
    end
    ffi.copy(out + k * N, x, N)
    local E = 0
    for i = 0, N - 1 do E = E - unlike(i) end
    e[k] = E / 2
  end
  return out, e, N, clock() - t0
end

local function fsize(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == 0 end
local has_zstd, has_gzip = have("zstd"), have("gzip")

local tmp = os.tmpname()
os.remove(tmp)
local rows = {}

local function write_dump(path, fields, append)
  os.remove(path)
  local t0 = clock()
  local w = tp.dump.open(path, { level = P.level, fields = fields })
  append(w)
  w:close()
  local dt = clock() - t0
  return dt, fsize(path)
end

local function bench(name, configs, energies, sites, shape, sample_s)
  local n = P.samples
  local raw = n * sites
  local path = tmp .. ".tpd"
  local cfg = { name = "config", type = "config", states = 2, shape = shape }
  local step = ffi.new("int64_t[?]", n)
  for k = 0, n - 1 do step[k] = k end
  -- 1. configurations only, appended in batches of 1000: throughput and size
  local tw, size = write_dump(path, { cfg }, function(w)
    for k = 0, n - 1, 1000 do
      w:append_batch(math.min(1000, n - k), { config = configs + k * sites })
    end
  end)
  local t0 = clock()
  local d = assert(tp.dump.read(path))
  local t = assert(d:load())
  local tr = clock() - t0
  assert(t.n == n)
  for k = 0, raw - 1, 97 do assert(t.config[k] == configs[k], "round trip") end
  d:close()
  -- 2. what a sampler does: config, energy and step, one record at a time
  local tw1 = write_dump(path, { cfg, { name = "energy", type = "f64" }, { name = "step", type = "i64" } },
    function(w)
      for k = 0, n - 1 do w:append{ config = configs + k * sites, energy = energies[k], step = step + k } end
    end)
  os.remove(path)
  -- 3. the same configurations unpacked through the command-line tools
  local rawpath = tmp .. ".raw"
  local f = assert(io.open(rawpath, "wb"))
  f:write(ffi.string(configs, raw))
  f:close()
  local function tool(cmd, ext)
    local w0 = clock()
    os.execute(cmd .. " " .. rawpath .. " > " .. rawpath .. ext)
    local dt = clock() - w0
    local s = fsize(rawpath .. ext)
    os.remove(rawpath .. ext)
    return s, dt
  end
  local zs, zt, gs, gt
  if has_zstd then zs, zt = tool("zstd -q -" .. P.level .. " -c", ".zst") end
  if has_gzip then gs, gt = tool("gzip -c", ".gz") end
  os.remove(rawpath)
  local packed = math.ceil(sites / 8) * n
  rows[#rows + 1] = { name = name, n = n, sample_us = sample_s / n * 1e6, write_us = tw1 / n * 1e6,
    wmb = raw / tw / 1e6, rmb = raw / tr / 1e6, size = size, packed = packed, raw = raw,
    zs = zs, zmb = zt and raw / zt / 1e6, gs = gs, gmb = gt and raw / gt / 1e6 }
end

local rng = tp.rng(0)
local c, e, N, ts = ising(16, 0.6, P.samples, rng)
bench("ising16 b=0.6", c, e, N, { 16, 16 }, ts)
c, e, N, ts = ising(16, 0.28, P.samples, rng)
bench("ising16 b=0.28", c, e, N, { 16, 16 }, ts)
c, e, N, ts = alloy(2.0, P.samples, rng)
bench("alloy 4x4x4", c, e, N, { 4, 4, 4 }, ts)

print(string.format("# %d samples each, zstd level %d.  sample_us: Lua Metropolis, one sweep per sample; " ..
  "record_us: w:append{config, energy, step} per record, cost%% = record_us / sample_us; write/read: MB/s of raw " ..
  "configurations (1 byte/site), batches of 1000; sizes in bytes of the configurations: raw, bit-packed, dump " ..
  "file, and raw through zstd -%d and gzip (MB/s with process start)", P.samples, P.level, P.level))
print(string.format("%-15s %9s %9s %7s %8s %8s %10s %10s %7s %10s %7s %10s %7s",
  "data", "sample_us", "record_us", "cost%", "write", "read", "raw", "bitpacked", "dump", "zstd", "MB/s", "gzip", "MB/s"))
for _, r in ipairs(rows) do
  print(string.format("%-15s %9.2f %9.3f %6.2f%% %8.1f %8.1f %10d %10d %7d %10s %7s %10s %7s",
    r.name, r.sample_us, r.write_us, 100 * r.write_us / r.sample_us, r.wmb, r.rmb, r.raw, r.packed, r.size,
    r.zs or "-", r.zmb and string.format("%.1f", r.zmb) or "-", r.gs or "-", r.gmb and string.format("%.1f", r.gmb) or "-"))
end
print("# ratios (raw / file): " .. table.concat((function()
  local t = {}
  for _, r in ipairs(rows) do
    t[#t + 1] = string.format("%s: dump %.1fx (bit-packing alone %.1fx), zstd %s, gzip %s", r.name, r.raw / r.size,
      r.raw / r.packed, r.zs and string.format("%.1fx", r.raw / r.zs) or "-", r.gs and string.format("%.1fx", r.raw / r.gs) or "-")
  end
  return t
end)(), "; "))
