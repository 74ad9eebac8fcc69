-- tests/bench/mc.lua -- classical sampler throughput (prints numbers; not a
-- pass/fail test).   bin/tempera run tests/bench/mc.lua [--set scale=2]
--   1. attempted single-spin Metropolis flips per second, Ising 256x256 at
--      beta_c: one chain (checkerboard split across threads) and 8 chains
--      (chains across threads), and Potts q=3 256x256 at beta_c (one chain),
--      with every thread (both cores) and with 1;
--   2. heat-bath flips per second, Ising and Potts q=3 256x256, one chain;
--      Metropolis Ising 16x16 with 128 chains (16 chains side by side);
--   3. Swendsen-Wang sweeps per second on 16x16 (128 chains), Ising 256x256
--      (1 chain and 2 chains) and Potts q=3 256x256 (2 chains);
--   4. Wolff clusters per second on 256x256 at beta_c (1 chain, 2 chains);
--   5. exact enumeration, Ising 5x5 (2^25 states) and Potts q=3 4x4 (3^16)
--      at one beta, states/s, on every thread and on one;
--   6. Cu-Au cluster-expansion attempts per second on 4x4x4 (64 chains,
--      semi-grand-canonical flips and canonical swaps);
--   7. WT-MetaD biased attempts per second (Ising 16x16, 128 chains; Cu-Au
--      4x4x4 with x_Au, 64 chains), each beside tempera's unbiased kernel on
--      the same chains (the goal: within 2x of it), and bias deposits.
-- Beside the one-chain Metropolis, Swendsen-Wang, Wolff and exact lines, the
-- same work done by a plain C reference kernel (tests/bench/mc_ref.c, built
-- by 'make build/bench/libmcref.so' and loaded with ffi.load from
-- $TEMPERA_SRC or the current directory) is timed in the same process and
-- printed with the ratio tempera/reference: a textbook sequential sweep
-- (xoshiro256**, acceptance table) and a checkerboard sweep with Philox4x32-10
-- (OpenMP over rows, same thread count) for Metropolis Ising; a sequential
-- sweep for Potts; union-find Swendsen-Wang and stack Wolff (one chain); a
-- Gray-code enumerator with an integer energy histogram (1 thread).  Without
-- the library only tempera's rates print.
-- Wall-clock times (tp_clock); each measurement runs at least ~0.5 s.
local tp = require "tempera"
local ffi = require "ffi"
local C = require("tempera.ffi").C

local P = tp.params{ scale = 1, seed = 3 }
local all = tp.threads()

local function time(f)
  local reps, t = 1, 0
  repeat
    local t0 = C.tp_clock()
    f(reps)
    t = C.tp_clock() - t0
    if t < 0.5 * P.scale then reps = reps * 2 end
  until t >= 0.5 * P.scale
  return reps, t
end

-- C reference kernels (tests/bench/mc_ref.c)
ffi.cdef [[
int64_t mcref_ising_metropolis_seq(int8_t *s, int L, double beta, int sweeps, uint64_t seed);
int64_t mcref_ising_metropolis_cb(int8_t *s, int L, double beta, int sweeps, uint64_t seed, int threads);
int64_t mcref_potts_metropolis_seq(uint8_t *s, int L, int q, double beta, int sweeps, uint64_t seed);
int64_t mcref_ising_sw(int8_t *s, int L, double beta, int sweeps, uint64_t seed);
int64_t mcref_ising_wolff(int8_t *s, int L, double beta, int clusters, uint64_t seed);
double mcref_ising_exact_logz(int L, double beta, int64_t *hist);
double mcref_potts_exact_logz(int L, int q, double beta, int64_t *hist);
]]
local libpath = (os.getenv("TEMPERA_SRC") or ".") .. "/build/bench/libmcref.so"
local okref, R = pcall(ffi.load, libpath)
if not okref then
  R = nil
  print(string.format("# no C reference kernels (%s not found): build them with 'make build/bench/libmcref.so'", libpath))
end
local nseed = 0
local function seed() nseed = nseed + 1; return P.seed * 1000003 + nseed end
math.randomseed(P.seed)
local function states(L, q, ctype, map) -- random start, as tp.mc.chains
  local s = ffi.new(ctype, L * L)
  for i = 0, L * L - 1 do s[i] = map(math.random(0, q - 1)) end
  return s
end
local function ising_spins(L) return states(L, 2, "int8_t[?]", function(v) return 2 * v - 1 end) end

-- refs: list of { label =, units = per rep, f = function(reps) } (C kernels)
local function rate(label, units_per_rep, f, unit, refs)
  local reps, t = time(f)
  local r = units_per_rep * reps / t
  local line = string.format("%-58s %10.3g %-10s", label, r, unit .. "/s")
  if not (R and refs) then print((line:gsub("%s+$", ""))) return end
  for _, x in ipairs(refs) do
    local rr, rt = time(x.f)
    local rx = x.units * rr / rt
    print(string.format("%s   ref %-38s %10.3g   x%.3g", line, "(" .. x.label .. ")", rx, r / rx))
  end
end

local bc, bcp = 0.4407, 1.005   -- beta_c: Ising, Potts q=3
local ising256 = tp.model.ising{ lattice = tp.lattice.square(256) }
local ising16 = tp.model.ising{ lattice = tp.lattice.square(16) }
local potts = tp.model.potts{ lattice = tp.lattice.square(256), q = 3 }
print(string.format("# tempera %s, %d threads available", tp.version, all))
local rs, rp = ising_spins(256), states(256, 3, "uint8_t[?]", function(v) return v end)
for _, th in ipairs { all, 1 } do
  tp.threads(th)
  local ch1 = tp.mc.chains{ model = ising256, chains = 1, seed = P.seed }
  rate(string.format("Metropolis Ising 256x256, 1 chain, %d thread(s)", th), 65536,
    function(n) ch1:sweep("metropolis", bc, n) end, "flips", {
      { label = "sequential xoshiro, C", units = 65536,
        f = function(n) R.mcref_ising_metropolis_seq(rs, 256, bc, n, seed()) end },
      { label = string.format("checkerboard Philox, C, %d thread(s)", th), units = 65536,
        f = function(n) R.mcref_ising_metropolis_cb(rs, 256, bc, n, seed(), th) end } })
  local ch8 = tp.mc.chains{ model = ising256, chains = 8, seed = P.seed }
  rate(string.format("Metropolis Ising 256x256, 8 chains, %d thread(s)", th), 8 * 65536,
    function(n) ch8:sweep("metropolis", bc, n) end, "flips")
  local cp = tp.mc.chains{ model = potts, chains = 1, seed = P.seed }
  rate(string.format("Metropolis Potts q=3 256x256, 1 chain, %d thread(s)", th), 65536,
    function(n) cp:sweep("metropolis", bcp, n) end, "flips", {
      { label = "sequential xoshiro, C", units = 65536,
        f = function(n) R.mcref_potts_metropolis_seq(rp, 256, 3, bcp, n, seed()) end } })
end
tp.threads(all)
local ch = tp.mc.chains{ model = ising256, chains = 1, seed = P.seed }
rate("heat-bath Ising 256x256, 1 chain", 65536, function(n) ch:sweep("heatbath", bc, n) end, "flips")
local chp = tp.mc.chains{ model = potts, chains = 1, seed = P.seed }
rate("heat-bath Potts q=3 256x256, 1 chain", 65536, function(n) chp:sweep("heatbath", bcp, n) end, "flips")
-- many small chains (16 chains side by side): the papers' 16x16 references
local r16 = {}
for c = 1, 128 do r16[c] = ising_spins(16) end
local m16 = tp.mc.chains{ model = ising16, chains = 128, seed = P.seed }
rate("Metropolis Ising 16x16, 128 chains", 128 * 256, function(n) m16:sweep("metropolis", bc, n) end, "flips", {
  { label = "sequential xoshiro, C, chain by chain", units = 128 * 256,
    f = function(n) for c = 1, 128 do R.mcref_ising_metropolis_seq(r16[c], 16, bc, n, seed()) end end } })
local s16 = tp.mc.chains{ model = ising16, chains = 128, seed = P.seed }
rate("Swendsen-Wang Ising 16x16, 128 chains (chain-sweeps)", 128, function(n) s16:sweep("swendsen_wang", bc, n) end, "sweeps")
local s1 = tp.mc.chains{ model = ising256, chains = 1, seed = P.seed }
local rsw = ising_spins(256)
rate("Swendsen-Wang Ising 256x256, 1 chain", 1, function(n) s1:sweep("swendsen_wang", bc, n) end, "sweeps", {
  { label = "union-find, C", units = 1, f = function(n) R.mcref_ising_sw(rsw, 256, bc, n, seed()) end } })
local s2 = tp.mc.chains{ model = ising256, chains = 2, seed = P.seed }
rate("Swendsen-Wang Ising 256x256, 2 chains (chain-sweeps)", 2, function(n) s2:sweep("swendsen_wang", bc, n) end, "sweeps")
local sp = tp.mc.chains{ model = potts, chains = 2, seed = P.seed }
rate("Swendsen-Wang Potts q=3 256x256, 2 chains (chain-sweeps)", 2, function(n) sp:sweep("swendsen_wang", bcp, n) end, "sweeps")
-- Wolff from equilibrium (20 Swendsen-Wang sweeps): the cluster size sets the cost
local w1 = tp.mc.chains{ model = ising256, chains = 1, seed = P.seed }
w1:sweep("swendsen_wang", bc, 20)
local rw = ising_spins(256)
if R then R.mcref_ising_sw(rw, 256, bc, 20, seed()) end
rate("Wolff Ising 256x256 beta_c, 1 chain", 1, function(n) w1:sweep("wolff", bc, n) end, "clusters", {
  { label = "stack, C", units = 1, f = function(n) R.mcref_ising_wolff(rw, 256, bc, n, seed()) end } })
local w = tp.mc.chains{ model = ising256, chains = 2, seed = P.seed }
w:sweep("swendsen_wang", bc, 20)
rate("Wolff Ising 256x256 beta_c, 2 chains", 2, function(n) w:sweep("wolff", bc, n) end, "clusters")

-- exact enumeration: tp.exact (log Z, <E>, var E) vs the C histogram enumerator (log Z)
local ising5 = tp.model.ising{ lattice = tp.lattice.square(5) }
local hist = ffi.new("int64_t[51]")
rate(string.format("exact enumeration Ising 5x5, 1 beta, %d thread(s)", all), 2 ^ 25,
  function(n) for _ = 1, n do tp.exact(ising5, bc) end end, "states", {
  { label = "Gray code + energy histogram, C", units = 2 ^ 25,
    f = function(n) for _ = 1, n do R.mcref_ising_exact_logz(5, bc, hist) end end } })
local potts4 = tp.model.potts{ lattice = tp.lattice.square(4), q = 3 }
rate(string.format("exact enumeration Potts q=3 4x4, 1 beta, %d thread(s)", all), 3 ^ 16,
  function(n) for _ = 1, n do tp.exact(potts4, bcp) end end, "states", {
  { label = "odometer + energy histogram, C", units = 3 ^ 16,
    f = function(n) for _ = 1, n do R.mcref_potts_exact_logz(4, 3, bcp, hist) end end } })
tp.threads(1)
rate("exact enumeration Ising 5x5, 1 beta, 1 thread", 2 ^ 25,
  function(n) for _ = 1, n do tp.exact(ising5, bc) end end, "states", {
  { label = "Gray code + energy histogram, C", units = 2 ^ 25,
    f = function(n) for _ = 1, n do R.mcref_ising_exact_logz(5, bc, hist) end end } })
rate("exact enumeration Potts q=3 4x4, 1 beta, 1 thread", 3 ^ 16,
  function(n) for _ = 1, n do tp.exact(potts4, bcp) end end, "states", {
  { label = "odometer + energy histogram, C", units = 3 ^ 16,
    f = function(n) for _ = 1, n do R.mcref_potts_exact_logz(4, 3, bcp, hist) end end } })
tp.threads(all)
if R then
  local lz, lzr = tp.exact(ising5, bc).log_z, R.mcref_ising_exact_logz(5, bc, hist)
  local lp, lpr = tp.exact(potts4, bcp).log_z, R.mcref_potts_exact_logz(4, 3, bcp, hist)
  if math.abs(lz - lzr) > 1e-9 * math.abs(lz) or math.abs(lp - lpr) > 1e-9 * math.abs(lp) then
    print(string.format("# warning: log Z: Ising 5x5 tempera %.12g, reference %.12g; Potts 4x4 %.12g, %.12g", lz, lzr, lp, lpr))
  end
end

local lat = tp.lattice.fcc{ n = { 4, 4, 4 } }
local cuau = tp.model.cluster_expansion{ lattice = lat, ce = "cuau" }
local beta = 1 / (tp.model.kB * 680)
local cc = tp.mc.chains{ model = cuau, chains = 64, seed = P.seed }
rate("Cu-Au 4x4x4 SGC Metropolis, 64 chains", 64 * 64, function(n) cc:sweep("metropolis", beta, n) end, "attempts")
rate("Cu-Au 4x4x4 canonical swaps, 64 chains", 64 * 64, function(n) cc:sweep("swap", beta, n) end, "attempts")
tp.threads(1)
local c1 = tp.mc.chains{ model = cuau, chains = 1, seed = P.seed }
rate("Cu-Au 4x4x4 SGC Metropolis, 1 chain, 1 thread", 64, function(n) c1:sweep("metropolis", beta, n) end, "attempts")
tp.threads(all)

local m = tp.cv.magnetization(ising16.lattice)
local bias = tp.bias.grid{ cv = m, points = 257, sigma = 0.05, height = 1.1345, beta = 0.4407 }
local mb = tp.mc.chains{ model = ising16, chains = 128, seed = P.seed }
-- the biased kernel beside tempera's own unbiased one (the reference here)
local mu = tp.mc.chains{ model = ising16, chains = 128, seed = P.seed }
rate("WT-MetaD biased Metropolis Ising 16x16, 128 chains", 128 * 256 * 64,
  function(n) for _ = 1, n do mb:biased(m, bias, 0.4407, 256 * 64) end end, "attempts", {
  { label = "tempera unbiased Metropolis", units = 128 * 256, f = function(n) mu:sweep("metropolis", bc, n) end } })
local xau = tp.cv.x_au(lat)
local cbias = tp.bias.grid{ cv = xau, points = 65, sigma = 0.03, height = 0.005, beta = beta }
local cb = tp.mc.chains{ model = cuau, chains = 64, seed = P.seed }
rate("WT-MetaD biased Cu-Au 4x4x4 (x_Au), 64 chains", 64 * 64 * 16,
  function(n) for _ = 1, n do cb:biased(xau, cbias, beta, 64 * 16) end end, "attempts", {
  { label = "tempera unbiased SGC Metropolis", units = 64 * 64, f = function(n) cc:sweep("metropolis", beta, n) end } })
rate("bias deposit, 128 hills on 257 points", 128,
  function(n) for _ = 1, n do bias:deposit(mb:cv(m), 128) end end, "hills")
