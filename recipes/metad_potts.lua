-- recipes/metad_potts.lua -- WT-MetaD MCMC on the 3-state Potts model with
-- the 2-D simplex CV.
--
-- What it shows: a 2-D bias (tempera-models(5), tempera-methods(7), tempera-mc(5)): the CV (x, y) = (c0 -
-- (c1 + c2)/2, sqrt(3)/2 (c1 - c2)) maps the three ordered phases to the
-- corners of a triangle and disorder to (0, 0); the grid is 17 x 17 over
-- [-0.6, 1.1] x [-1, 1] (the paper's Potts 4x4 setting), gamma 10, sigma
-- 0.05, B = 128 chains, a hill cycle every 64 sweeps, W from the paper for
-- each beta.  For L <= 3 (3^9 states) or L = 4 (3^16, a few seconds) the
-- exact PMF on the same grid is enumerated and the RMSE of the bias PMF
-- against it is printed as deposition goes on (grid points the system can
-- reach only).  A Lua schedule deposits 4 W per cycle during the first
-- third of the run (fast filling) and W afterwards, to show that the height
-- may be any function of the cycle and of the bias.
-- Expected time: about 7 s on 2 CPU cores with the defaults (4x4, beta 1.005;
-- the exact reference enumerates 3^16 states).
local tp = require "tempera"

local P = tp.params{ L = 4, beta = 1.005, chains = 128, pace = 64, cycles = 1200, record_every = 200,
  sigma = 0.05, bias_factor = 10, points = 17, exact = true, seed = 11 }

local W_paper = { [1.2] = 0.0833, [1.005] = 0.0995, [0.5] = 0.2 }
local W = W_paper[P.beta] or 0.1
local lat = tp.lattice.square(P.L)
local model = tp.model.potts{ lattice = lat, q = 3 }
local cv = tp.cv.simplex(lat)
local kT = 1 / P.beta
local range = { { -0.6, 1.1 }, { -1.0, 1.0 } }

local ref
if P.exact and P.L <= 4 then
  ref = tp.exact(model, P.beta, { cv = cv, points = { P.points, P.points }, range = range })
end
local bias = tp.bias.grid{ cv = cv, range = range, points = P.points, sigma = P.sigma, height = W,
  bias_factor = P.bias_factor, beta = P.beta }
print(string.format("# WT-MetaD Potts q=3 %dx%d beta %g: simplex CV, grid %dx%d, %d chains, pace %d sweeps, W %g",
  P.L, P.L, P.beta, P.points, P.points, P.chains, P.pace, W))
local third = math.max(1, math.floor(P.cycles / 3))
local run = tp.mc.metad{ model = model, cv = cv, bias = bias, beta = P.beta, chains = P.chains, pace = P.pace,
  cycles = P.cycles, reference = ref and ref.pmf, record_every = P.record_every, seed = P.seed,
  height = function(cycle) return cycle <= third and 4 * W or W end }
if ref then
  print("cycle   hills     RMSE/kT")
  for _, h in ipairs(run.history) do print(string.format("%5d %7d %11.4f", h.cycle, h.hills, h.rmse / kT)) end
end
-- F at the disordered point and the three corners
local F = bias:pmf()
local fmin = math.huge
if ref then for i = 1, #ref.pmf do fmin = math.min(fmin, ref.pmf[i]) end end
print("point                 (x, y)          F_bias/kT" .. (ref and "  F_exact/kT" or ""))
for _, pt in ipairs { { "disorder", 0, 0 }, { "phase 0", 1, 0 }, { "phase 1", -0.5, 0.8660254 }, { "phase 2", -0.5, -0.8660254 } } do
  local g = bias:index(pt[2], pt[3])
  print(string.format("%-10s (%+.3f, %+.3f) %14.4f", pt[1], pt[2], pt[3], F[g - 1] / kT)
    .. (ref and string.format(" %11.4f", (ref.pmf[g] - fmin) / kT) or ""))
end
local fr = run:frozen{ samples = 50 }
local mg = run:marginal(fr)
print(string.format("frozen bias: %d samples, NESS %.3f", fr.n, mg.ness))
