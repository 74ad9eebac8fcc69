-- recipes/wang_landau_ising.lua -- Wang-Landau density of states of the Ising model.
--
-- What it shows: Wang-Landau sampling over energy: independent random
-- walkers (4 by default: the spread of their ln g is its error bar), each
-- with single-spin flips accepted with min(1, g(E)/g(E')), ln f
-- halved each time the energy histogram is flat (min >= 0.8 mean over the
-- energies visited so far), until ln f < 1e-6.  ln g(E) is normalised to
-- sum g = 2^N.  On the default 4x4 lattice every energy's exact degeneracy is
-- counted by enumeration and printed beside the estimate; then <E>/N and the
-- heat capacity per site follow from g(E) at the papers' three inverse
-- temperatures (exact values beside them), showing that one run gives every
-- temperature.  --set schedule=1/t switches to the 1/t schedule (Belardinelli
-- and Pereyra), which removes the halving schedule's saturation error.
-- Expected time: under 1 s on 1 CPU core with the defaults (about 3 s with 1/t).
local tp = require "tempera"
local ffi = require "ffi"

local P = tp.params{ L = 4, ln_f_final = 1e-6, flatness = 0.8, check_every = 100, schedule = "halving", seed = 3 }

local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat }
local N = lat.n
local wl = tp.mc.wang_landau{ model = model, emin = -2 * N, emax = 2 * N, de = 4, flatness = P.flatness,
  ln_f_final = P.ln_f_final, check_every = P.check_every, schedule = P.schedule, seed = P.seed }
print(string.format("# Wang-Landau Ising %dx%d (" .. P.schedule .. "): %d walkers, %d halvings of ln f, %d sweeps, final ln f %.2e",
  P.L, P.L, wl.walkers, wl.iterations, wl.sweeps, wl.ln_f))

-- exact degeneracies by enumeration (N <= 20)
local gex
if N <= 20 then
  gex = {}
  local x = ffi.new("uint8_t[?]", N)
  for st = 0, 2 ^ N - 1 do
    for i = 0, N - 1 do x[i] = bit.band(bit.rshift(st, i), 1) end
    local k = math.floor((model:energy(x) + 2 * N) / 4 + 0.5) + 1
    gex[k] = (gex[k] or 0) + 1
  end
end
print("E        ln g (WL)   +- err" .. (gex and "   ln g (exact)" or ""))
for k, e in ipairs(wl.energies) do
  if wl.log_g[k] > -math.huge then
    print(string.format("%5d %12.4f %8.4f", e, wl.log_g[k], wl.log_g_err[k])
      .. (gex and string.format(" %14.4f", math.log(gex[k])) or ""))
  end
end
print("beta     E/N (WL)   +- err     C (WL)   +- err" .. (gex and "   E/N exact   C exact" or ""))
for _, beta in ipairs { 0.28, 0.4407, 0.6 } do
  local t = wl.thermo(beta)
  local line = string.format("%.4f %10.5f %8.5f %9.5f %8.5f", beta, t.mean_e / N, t.err.mean_e / N, t.heat_capacity,
    t.err.heat_capacity)
  if gex and N <= 16 then
    local ex = tp.exact(model, beta)
    line = line .. string.format(" %11.5f %9.5f", ex.energy_per_site, ex.heat_capacity)
  end
  print(line)
end
