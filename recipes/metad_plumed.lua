-- recipes/metad_plumed.lua -- WT-MetaD that writes PLUMED files, and the round trip.
--
-- What it shows: tp.mc.metad{ hills =, colvar = } writes PLUMED's
-- multiple-walkers files as it runs (man tempera-mc(5), tempera-methods(7)): one HILLS.<k> and
-- one COLVAR.<k> per chain (walker), time in sweeps, "#! SET energy_unit J"
-- and "#! SET time_unit sweep", heights in PLUMED's well-tempered
-- convention (gamma/(gamma-1) times the deposited height).  The recipe then
-- reads all walkers' hills back (tp.plumed.read_hills with the list of
-- files, as 'plumed sum_hills --hills HILLS.0,HILLS.1,...' does), sums them
-- on the bias grid and compares with the bias tempera built, and compares
-- the PMF from the summed hills with the exact PMF of the 4x4 lattice.
-- With PLUMED installed the same files give the PMF with
--   plumed sum_hills --hills HILLS.0,HILLS.1,HILLS.2,HILLS.3 --mintozero --kt 1.6667
-- (PLUMED's default kernel for reading is its own; the tempera sum uses
-- the Gaussians the bias used).  Hills deposited beside a reflecting wall
-- of the bias are written with their mirror images, so the files sum to
-- the bias itself.
-- Expected time: about a second on 2 CPU cores.
local tp = require "tempera"
local int = tp.params.int
local P = tp.params{ L = int(4), beta = 0.6, chains = int(4), pace = int(8), cycles = int(400), sigma = 0.1,
  bias_factor = 10, height = 0.5, seed = 3 }

local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local kT = 1 / P.beta
local points = P.L * P.L + 1
local bias = tp.bias.grid{ cv = m, points = points, sigma = P.sigma, height = P.height, bias_factor = P.bias_factor,
  beta = P.beta }
local run = tp.mc.metad{ model = model, cv = m, bias = bias, beta = P.beta, chains = P.chains, pace = P.pace,
  cycles = P.cycles, seed = P.seed, hills = tp.out("HILLS"), colvar = tp.out("COLVAR") }

local files = run.plumed.hills_paths
local names = {}
for i, f in ipairs(files) do names[i] = f:match("([^/]+)$") end
print(string.format("# WT-MetaD Ising %dx%d beta %g, %d walkers x %d cycles: wrote %s (and COLVAR.*)",
  P.L, P.L, P.beta, P.chains, P.cycles, table.concat(names, " ")))
local t = tp.plumed.read(files[1])
print(string.format("HILLS.0: %d rows, fields: %s", t.rows, table.concat(t.fields, " ")))
print(string.format("#! SET energy_unit %s, time_unit %s, kerneltype %s; time %g .. %g sweeps",
  t.set.energy_unit, t.set.time_unit, t.set.kerneltype, t:column("time")[0], t:column("time")[t.rows - 1]))

-- the round trip: every walker's hills summed on the bias grid
local h = assert(tp.plumed.read_hills(files))
local V = h:sum_bias(bias)
local v, worst, vmax = bias:values(), 0, 0
for j = 0, bias.size - 1 do
  worst = math.max(worst, math.abs(V[j] - v[j]))
  vmax = math.max(vmax, v[j])
end
print(string.format("%d hills read back; their sum equals the bias grid to 1e-9 of max V (%.3f): %s", h.n, vmax,
  worst < 1e-9 * vmax and "yes" or string.format("NO (%.3g off)", worst)))

-- PMF of the summed hills, F = -gamma/(gamma-1) V, against exact enumeration
local Fh = tp.analysis.pmf_from_bias(V, h.bias_factor, bias.size)
local ref = tp.exact(model, P.beta, { cv = m, points = points, range = { -1, 1 } })
local fmin = math.huge
for i = 1, #ref.pmf do fmin = math.min(fmin, ref.pmf[i]) end
local F, axes = bias:pmf()
print("m        F_hills/kT  F_bias/kT  F_exact/kT")
local se, n = 0, 0
for i = 1, bias.size do
  if ref.pmf[i] < math.huge then
    local fe = (ref.pmf[i] - fmin) / kT
    print(string.format("%+.4f %10.4f %10.4f %11.4f", axes[1][i], Fh[i] / kT, F[i - 1] / kT, fe))
    se, n = se + (Fh[i] / kT - fe) ^ 2, n + 1
  end
end
print(string.format("PMF RMSE of the hills against exact: %.3f kT", math.sqrt(se / n)))
