-- tests/bench/nn_step.lua -- one MDNS training step (WDCE, B = 128, R = 8,
-- embed 64, depth 4, heads 4, Adam + EMA) and drawing 128 samples, for
-- Ising 8x8 and 16x16: time, tokens/s and achieved GFLOP/s against the
-- BLAS's own sgemm rate measured in the same run (OpenBLAS on the CPU
-- backend, cuBLAS on CUDA).  Then drawing with the paper-scale recipes'
-- CPU network (embed 32, depth 1, heads 4), which samples from the
-- one-block table (man/tempera-nn.5): its GFLOP/s ("equivalent") count
-- the work the site forward would do without the table.  Run: bin/tempera run tests/bench/nn_step.lua
--   [--set sizes=8,16] [--set steps=2] [--set samples=128] [--set backend=cpu]
-- At 32x32 (T = 1024) use fewer samples: --set sizes=32 --set samples=8
-- (drawing with the depth-4 network is T site passes of three full blocks).
-- At 16x16 it also times the other attention layout (tiled, man/tempera-nn.5).
-- The PyTorch equivalent is tests/bench/torch_step.py (optional).
local tp = require "tempera"
local ffi = require "ffi"
local C = require("tempera.ffi").C

local P = tp.params{ sizes = "8,16", steps = 2, samples = 128, batch = 128, replicates = 8,
                     backend = "auto", seed = 1 }

local backend = P.backend == "auto" and tp.nn.backend() or P.backend
local peak = C.tp_tf_sgemm_gflops(backend, backend == "cuda" and 4096 or 1024, 3)
print(string.format("# backend %s, %d threads; sgemm peak (n=%d) %.1f GFLOP/s", backend, tp.threads(),
  backend == "cuda" and 4096 or 1024, peak))

for Ls in P.sizes:gmatch("%d+") do
  local L = tonumber(Ls)
  local net = tp.nn.transformer{ lattice_shape = { L, L }, states = 2, embed = 64, depth = 4, heads = 4,
                                 seed = P.seed, backend = backend }
  local T, B, R = net.sites, P.batch, P.replicates
  -- a batch of random spins with random log weights
  local rng = tp.rng{ seed = P.seed, stream = 1 }
  local x = ffi.new("uint8_t[?]", B * T)
  for i = 0, B * T - 1 do x[i] = rng:below(2) end
  local lr = ffi.new("double[?]", B)
  for b = 0, B - 1 do lr[b] = rng:uniform() end
  net:wdce_step(x, lr, B, { replicates = R, seed = 1, stream = 0 })   -- warm-up
  local t0 = C.tp_clock()
  for s = 1, P.steps do net:wdce_step(x, lr, B, { replicates = R, seed = 1, stream = s * B * R }) end
  local dt = (C.tp_clock() - t0) / P.steps
  local flops = C.tp_tf_flops(net._cfg, B * R, 1)
  print(string.format("ising %2dx%-2d train step  B=%d R=%d: %8.3f s  %10.0f tokens/s  %7.1f GFLOP/s  (%.0f%% of sgemm peak)",
    L, L, B, R, dt, B * R * T / dt, flops / dt * 1e-9, 100 * flops / dt * 1e-9 / peak))
  local dt_train = dt
  t0 = C.tp_clock()
  net:sample(P.samples, { seed = 2, stream = 0 })
  dt = C.tp_clock() - t0
  local dt_s = dt
  flops = T * C.tp_tf_flops(net._cfg, P.samples, 0)
  print(string.format("ising %2dx%-2d sample     n=%d:     %8.3f s  %10.0f tokens/s  %7.1f GFLOP/s  (%.0f%% of sgemm peak)",
    L, L, P.samples, dt, P.samples * T / dt, flops / dt * 1e-9, 100 * flops / dt * 1e-9 / peak))
  -- the other attention layout at the same size (man/tempera-nn.5, "Long
  -- rows"): tiled from tp_tf_tiled_min() sites on, the (T, T) matrices
  -- below.  Not at 32x32 and up, where the matrices take minutes a step.
  if backend == "cpu" and T >= 256 and T < 1024 then
    local tiled = T >= C.tp_tf_tiled_min()
    C.tp_tf_set_tiled_min(tiled and 2 ^ 30 or 1)
    local n2 = tp.nn.transformer{ lattice_shape = { L, L }, states = 2, embed = 64, depth = 4, heads = 4,
                                  seed = P.seed, backend = backend }
    n2:wdce_step(x, lr, B, { replicates = R, seed = 1, stream = 0 })   -- warm-up
    local t1 = C.tp_clock()
    for s = 1, P.steps do n2:wdce_step(x, lr, B, { replicates = R, seed = 1, stream = s * B * R }) end
    local dt2 = (C.tp_clock() - t1) / P.steps
    t1 = C.tp_clock()
    n2:sample(P.samples, { seed = 2, stream = 0 })
    local ds2 = C.tp_clock() - t1
    C.tp_tf_set_tiled_min(0)
    print(string.format("ising %2dx%-2d %s attention: train step %8.3f s, sample %8.3f s  (time %s/default: %.2f, %.2f)",
      L, L, tiled and "full " or "tiled", dt2, ds2, tiled and "full" or "tiled", dt2 / dt_train, ds2 / dt_s))
  end
  -- the recipes' CPU network: one block, the sampling table
  local n1 = tp.nn.transformer{ lattice_shape = { L, L }, states = 2, embed = 32, depth = 1, heads = 4,
                                seed = P.seed, backend = backend }
  n1:sample(8, { seed = 2, stream = 0 })   -- warm-up
  t0 = C.tp_clock()
  n1:sample(P.samples, { seed = 2, stream = 0 })
  dt = C.tp_clock() - t0
  -- the site forward without the table: the q/k/v product of every token
  -- (6 d^2 flops a token), then one token through the rest of the block
  local d1 = 32
  flops = T * P.samples * (T * 6 * d1 * d1 + 4 * T * d1 + 18 * d1 * d1 + 2 * d1 * 2)
  print(string.format("ising %2dx%-2d sample 1blk n=%d:     %8.3f s  %10.0f tokens/s  %7.1f GFLOP/s  (%.0f%% of sgemm peak, equivalent)",
    L, L, P.samples, dt, P.samples * T / dt, flops / dt * 1e-9, 100 * flops / dt * 1e-9 / peak))
end
