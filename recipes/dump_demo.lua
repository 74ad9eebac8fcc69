-- recipes/dump_demo.lua: write samples to a dump and read them back.
-- Demonstrates tp.dump: a Metropolis chain on the 8x8 Ising model (a plain
-- Lua energy, so the recipe needs nothing else) records each sample's
-- configuration, energy, magnetization and step in demo.tpd; the recipe
-- then reads the dump, checks it against what it wrote, and shows what the
-- header recorded.  Afterwards try:
--   tempera dump info demo.tpd     tempera dump head demo.tpd -n 2
--   tempera dump csv demo.tpd --fields step,energy,m
--   tempera dump recipe demo.tpd
-- Expected runtime on CPU: well under a second.
local tp = require "tempera"
local ffi = require "ffi"
local P = tp.params{ L = 8, beta = 0.4, samples = 300, sweeps = 2, seed = 7 }

local L, N = P.L, P.L * P.L
local rng = tp.rng(0)
local x = ffi.new("uint8_t[?]", N)
for i = 0, N - 1 do x[i] = rng:below(2) end
local function s(i) return 2 * x[i] - 1 end
local function right(i) return i - i % L + (i + 1) % L end
local function left(i) return i - i % L + (i + L - 1) % L end
local function down(i) return (i + L) % N end
local function up(i) return (i - L + N) % N end
local function energy()
  local e = 0
  for i = 0, N - 1 do e = e - s(i) * (s(right(i)) + s(down(i))) end
  return e
end

local path = tp.out("demo.tpd")
local w = tp.dump.open(path, {
  fields = {
    { name = "config", type = "config", states = 2, shape = { L, L } },
    { name = "energy", type = "f64" },
    { name = "m", type = "f64" },
    { name = "step", type = "i64" },
  },
  lattice = string.format("square %dx%d periodic", L, L),
  model = string.format("ising J=1 h=0 beta=%g", P.beta),
  chunk = 64,
})

local sum_e, step = 0, 0
for k = 1, P.samples do
  for _ = 1, P.sweeps * N do
    local i = rng:below(N)
    local dE = 2 * s(i) * (s(right(i)) + s(left(i)) + s(down(i)) + s(up(i)))
    if dE <= 0 or rng:uniform() < math.exp(-P.beta * dE) then x[i] = 1 - x[i] end
    step = step + 1
  end
  local m = 0
  for i = 0, N - 1 do m = m + s(i) end
  local e = energy()
  sum_e = sum_e + e
  w:append{ config = x, energy = e, m = m / N, step = step }
end
print(string.format("appended %d records; %d chunks safely written, the rest goes out on close", w:records(), w:chunks()))
w:close()

-- read it back
local d = assert(tp.dump.read(path))
local n_chunks = 0
for c in d:chunks() do n_chunks = n_chunks + 1 end
assert(not d.error, d.error)
print(string.format("read %d chunks, closed by its writer: %s", n_chunks, tostring(d.complete)))
local t = assert(d:load{ "energy", "m", "config" })
local sum2 = 0
for k = 0, t.n - 1 do sum2 = sum2 + t.energy[k] end
print(string.format("records %d, mean energy per site %.6f (written %.6f)", t.n, sum2 / t.n / N, sum_e / P.samples / N))
local last = (t.n - 1) * N
local same = true
for i = 0, N - 1 do same = same and t.config[last + i] == x[i] end
print("last configuration identical: " .. tostring(same))
print(string.format("header: seed=%s params=%s", d.meta.seed, d.meta.params))
print(string.format("header: lattice=%q model=%q", d.meta.lattice, d.meta.model))
print("header: recipe recorded: " .. tostring(d.meta.recipe ~= nil and #d.meta.recipe_sha256 == 64))
for r = 0, L - 1 do
  local row = {}
  for c = 0, L - 1 do row[#row + 1] = t.config[last + r * L + c] == 1 and "#" or "." end
  print("  " .. table.concat(row))
end
