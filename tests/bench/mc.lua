-- tests/bench/mc.lua -- classical sampler throughput (prints numbers; not a
-- pass/fail test).   bin/tempera run tests/bench/mc.lua [--set scale=2]
--   1. attempted single-spin Metropolis flips per second, Ising 256x256 at
--      beta_c: one chain (checkerboard split across threads) and 8 chains
--      (chains across threads), with every thread (both cores) and with 1;
--   2. Swendsen-Wang sweeps per second on 16x16 (128 chains) and 256x256
--      (1 chain and 2 chains);
--   3. Wolff clusters per second on 256x256 at beta_c;
--   4. Cu-Au cluster-expansion attempts per second on 4x4x4 (64 chains,
--      semi-grand-canonical flips and canonical swaps);
--   5. WT-MetaD biased attempts per second (Ising 16x16, 128 chains).
-- Wall-clock times (tp_clock); each measurement runs at least ~0.5 s.
local tp = require "tempera"
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

local function rate(label, units_per_rep, f, unit)
  local reps, t = time(f)
  print(string.format("%-58s %10.3g %s/s", label, units_per_rep * reps / t, unit))
end

local ising256 = tp.model.ising{ lattice = tp.lattice.square(256) }
local ising16 = tp.model.ising{ lattice = tp.lattice.square(16) }
print(string.format("# tempera %s, %d threads available", tp.version, all))
for _, th in ipairs { all, 1 } do
  tp.threads(th)
  local ch1 = tp.mc.chains{ model = ising256, chains = 1, seed = P.seed }
  rate(string.format("Metropolis Ising 256x256, 1 chain, %d thread(s)", th), 65536,
    function(n) ch1:sweep("metropolis", 0.4407, n) end, "flips")
  local ch8 = tp.mc.chains{ model = ising256, chains = 8, seed = P.seed }
  rate(string.format("Metropolis Ising 256x256, 8 chains, %d thread(s)", th), 8 * 65536,
    function(n) ch8:sweep("metropolis", 0.4407, n) end, "flips")
end
tp.threads(all)
local ch = tp.mc.chains{ model = ising256, chains = 1, seed = P.seed }
rate("heat-bath Ising 256x256, 1 chain", 65536, function(n) ch:sweep("heatbath", 0.4407, n) end, "flips")
local s16 = tp.mc.chains{ model = ising16, chains = 128, seed = P.seed }
rate("Swendsen-Wang Ising 16x16, 128 chains (chain-sweeps)", 128, function(n) s16:sweep("swendsen_wang", 0.4407, n) end, "sweeps")
local s1 = tp.mc.chains{ model = ising256, chains = 1, seed = P.seed }
rate("Swendsen-Wang Ising 256x256, 1 chain", 1, function(n) s1:sweep("swendsen_wang", 0.4407, n) end, "sweeps")
local s2 = tp.mc.chains{ model = ising256, chains = 2, seed = P.seed }
rate("Swendsen-Wang Ising 256x256, 2 chains (chain-sweeps)", 2, function(n) s2:sweep("swendsen_wang", 0.4407, n) end, "sweeps")
local potts = tp.model.potts{ lattice = tp.lattice.square(256), q = 3 }
local sp = tp.mc.chains{ model = potts, chains = 2, seed = P.seed }
rate("Swendsen-Wang Potts q=3 256x256, 2 chains (chain-sweeps)", 2, function(n) sp:sweep("swendsen_wang", 1.005, n) end, "sweeps")
local w = tp.mc.chains{ model = ising256, chains = 2, seed = P.seed }
w:sweep("swendsen_wang", 0.4407, 20)
rate("Wolff Ising 256x256 beta_c, 2 chains", 2, function(n) w:sweep("wolff", 0.4407, n) end, "clusters")

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
rate("WT-MetaD biased Metropolis Ising 16x16, 128 chains", 128 * 256 * 64,
  function(n) for _ = 1, n do mb:biased(m, bias, 0.4407, 256 * 64) end end, "attempts")
rate("bias deposit, 128 hills on 257 points", 128,
  function(n) for _ = 1, n do bias:deposit(mb:cv(m), 128) end end, "hills")
