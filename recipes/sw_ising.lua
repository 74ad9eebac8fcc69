-- recipes/sw_ising.lua -- Swendsen-Wang ground truth for the 2-D Ising model.
--
-- What it shows: the reference numbers the neural samplers are judged
-- against (man tempera-mc(5), tempera-methods(7), tempera-analysis(5)): 16x16 periodic Ising, J = 1, at the
-- papers' three inverse temperatures (0.28 high T, 0.4407 critical, 0.6 low
-- T), 128 independent Swendsen-Wang chains after a burn-in of 1024 sweeps.
-- For each beta it prints Mag. = E|m|, the energy per site, the heat
-- capacity per site and the two-point correlation <s_i s_{i+r}> (x and y
-- averaged) for r = 1..L/2, each with an error bar (tau_int over chains;
-- jackknife over chains for C).  Results depend only on the seed.
-- Expected time: about 4 s wall on 2 CPU cores with the defaults.
local tp = require "tempera"

local P = tp.params{ L = 16, chains = 128, burn_in = 1024, samples = 1000, every = 1, seed = 1 }

local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0 }
local fmt = tp.observables.format

print(string.format("# Ising %dx%d, Swendsen-Wang: %d chains, burn-in %d, %d samples every %d sweep(s)",
  P.L, P.L, P.chains, P.burn_in, P.samples, P.every))
for k, beta in ipairs { 0.28, 0.4407, 0.6 } do
  local r = tp.mc.sample{ model = model, beta = beta, method = "swendsen_wang", chains = P.chains,
    burn_in = P.burn_in, samples = P.samples, every = P.every, seed = P.seed + k, corr = true,
    label = string.format("SW beta %.4f", beta) }
  print(string.format("beta %.4f  Mag. %s  E/site %s  C %s  tau_E %.2f",
    beta, fmt(r.mag), fmt(r.energy_per_site), fmt(r.heat_capacity), r.energy.tau))
  local c = {}
  for i = 2, #r.corr do c[#c + 1] = string.format("%.4f(%d)", r.corr[i].mean, math.ceil(r.corr[i].err * 1e4)) end
  print("  Corr. r=1.." .. (#r.corr - 1) .. ": " .. table.concat(c, " "))
end
