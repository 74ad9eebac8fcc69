-- tests/bench/mpi_train.lua: data-parallel MDNS training, steps per second
-- and the time spent summing gradients across MPI ranks.
--   bin/tempera run tests/bench/mpi_train.lua                     (one process)
--   mpirun -np 2 bin/tempera run tests/bench/mpi_train.lua --threads 1
-- tests/bench/mpi_scaling.sh runs both (and recipes/metad_walkers.lua) and
-- prints them side by side.  The network: the papers' transformer shape
-- (embed 64, depth 4, 4 heads) on 8x8 Ising at beta 0.6, batch B = 64,
-- R = 8 replicates, a fresh batch every K = 5 steps.  Prints the steps per
-- second over the timed steps, the gradient bytes each step sums, and the
-- MPI time per step (gathering every rank's gradient and the batch's rows,
-- including the wait for the slower rank).
local tp = require "tempera"
local int = tp.params.int
local P = tp.params{ L = int(8), embed = int(64), depth = int(4), heads = int(4), batch = int(64), replicates = int(8),
  K = int(5), warmup = int(5), steps = int(30), seed = 3 }
-- whole cycles: training runs K steps at a time
assert(P.warmup % P.K == 0 and P.steps % P.K == 0, "warmup and steps must be multiples of K")
local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat }
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = P.heads, seed = 1,
  backend = "cpu" }
local tr = tp.train.trainer{ net = net, model = model, beta = 0.6, batch = P.batch, replicates = P.replicates,
  resample_every = P.K, lr = 1e-4, seed = P.seed, progress = false }
tr:run(P.warmup)
local t0, c0 = tp.clock(), tp.mpi.comm_seconds()
tr:run(P.warmup + P.steps)
local wall, comm = tp.clock() - t0, tp.mpi.comm_seconds() - c0
local line = string.format("mpi_train: %d rank(s) x %d thread(s): %.2f steps/s, %d parameters (%.1f MB of float " ..
  "gradients a step), MPI %.1f ms a step of %.1f ms", tp.mpi.size(), tp.threads(), P.steps / wall, net.num_params,
  net.num_params * 4 / 1e6, 1e3 * comm / P.steps, 1e3 * wall / P.steps)
print(line)
