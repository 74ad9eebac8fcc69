-- recipes/cuau_mcmc.lua -- Cu-Au alloy Monte Carlo at the papers' temperatures.
--
-- What it shows: the cluster-expansion Cu-Au alloy on the 4x4x4 FCC
-- supercell (64 sites, man tempera-models(5), tempera-methods(7)) at 500, 680 and 1200 K, with two
-- ensembles: semi-grand-canonical Metropolis flips at field h = 0 (the
-- composition fluctuates), and canonical swaps at fixed composition x_Au
-- (default 0.25, Cu3Au).  For each it prints the formation energy per
-- atom (meV), x_Au, the L1_2/L1_0 order parameter Q and the heat capacity
-- per site (in k_B), with error bars from independent chains.  At 500 K the
-- Cu3Au cell orders (Q near 1); at 1200 K it is disordered.
-- Expected time: about 6 s on 2 CPU cores with the defaults.
local tp = require "tempera"

local P = tp.params{ cell = "444", chains = 32, burn_in = 500, samples = 500, every = 2, x_au = 0.25, seed = 9 }

local n = {}
for d in P.cell:gmatch("%d") do n[#n + 1] = tonumber(d) end
local lat = tp.lattice.fcc{ n = n }
local model = tp.model.cluster_expansion{ lattice = lat, ce = "cuau" }
local xau, Q = tp.cv.x_au(lat), tp.cv.order(lat)
local fmt = tp.observables.format
local N = lat.n

print(string.format("# Cu-Au %s FCC (%d sites), %d chains, burn-in %d, %d samples every %d sweeps",
  P.cell, N, P.chains, P.burn_in, P.samples, P.every))
for k, T in ipairs { 500, 680, 1200 } do
  local beta = 1 / (tp.model.kB * T)
  for _, ens in ipairs { "sgc", "canonical" } do
    local r
    if ens == "sgc" then
      r = tp.mc.sample{ model = model, beta = beta, method = "metropolis", chains = P.chains, burn_in = P.burn_in,
        samples = P.samples, every = P.every, seed = P.seed + k, cv = { xau, Q }, label = "sgc " .. T .. " K" }
    else
      -- canonical: start every chain at the requested composition, then swap
      local ch = tp.mc.chains{ model = model, chains = P.chains, seed = P.seed + 100 + k, start = "zero" }
      local x, nau = ch:states(), math.floor(P.x_au * N + 0.5)
      for b = 0, P.chains - 1 do for i = 0, nau - 1 do x[b * N + (i * 7 + b) % N] = 1 end end
      r = tp.mc.sample{ model = model, beta = beta, method = "swap", chains = P.chains, burn_in = P.burn_in,
        samples = P.samples, every = P.every, cv = { xau, Q }, label = "swap " .. T .. " K", init = ch }
    end
    local q = r.cv[2]
    local e = { mean = 1000 * r.energy_per_site.mean, err = 1000 * r.energy_per_site.err }
    print(string.format("%4d K %-9s E/site %s meV  x_Au %s  Q %s  C/k_B %s", T, ens, fmt(e), fmt(r.cv[1]),
      fmt(q), fmt(r.heat_capacity)))
  end
end
