-- recipes/sw_potts.lua -- Swendsen-Wang ground truth for the 3-state Potts model.
--
-- What it shows: 16x16 periodic q = 3 Potts, J = 1 (man tempera-models(5), tempera-methods(7)), at the
-- papers' beta = 0.5 (high T), 1.005 (critical) and 1.2 (low T); 128
-- Swendsen-Wang chains (each cluster draws a uniform new state), burn-in
-- 1024.  Prints Mag. = E[(q max_k c_k - 1)/(q - 1)], energy and heat capacity
-- per site and Corr.(r) = <delta(x_i, x_{i+r})> - 1/q, with error bars.
-- Expected time: about 4 s wall on 2 CPU cores with the defaults.
local tp = require "tempera"

local P = tp.params{ L = 16, q = 3, chains = 128, burn_in = 1024, samples = 1000, every = 1, seed = 1 }

local lat = tp.lattice.square(P.L)
local model = tp.model.potts{ lattice = lat, q = P.q, J = 1 }
local fmt = tp.observables.format

print(string.format("# Potts q=%d %dx%d, Swendsen-Wang: %d chains, burn-in %d, %d samples every %d sweep(s)",
  P.q, P.L, P.L, P.chains, P.burn_in, P.samples, P.every))
for k, beta in ipairs { 0.5, 1.005, 1.2 } do
  local r = tp.mc.sample{ model = model, beta = beta, method = "swendsen_wang", chains = P.chains,
    burn_in = P.burn_in, samples = P.samples, every = P.every, seed = P.seed + k, corr = true,
    label = string.format("SW beta %.3f", beta) }
  print(string.format("beta %.3f  Mag. %s  E/site %s  C %s  tau_E %.2f",
    beta, fmt(r.mag), fmt(r.energy_per_site), fmt(r.heat_capacity), r.energy.tau))
  local c = {}
  for i = 2, #r.corr do c[#c + 1] = string.format("%.4f(%d)", r.corr[i].mean, math.ceil(r.corr[i].err * 1e4)) end
  print("  Corr. r=1.." .. (#r.corr - 1) .. ": " .. table.concat(c, " "))
end
