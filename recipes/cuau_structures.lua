-- recipes/cuau_structures.lua -- the Cu-Au cluster expansion on FCC
-- supercells (man tempera-models(5), tempera-methods(7)): ordered-structure formation energies and the
-- exact semi-grand-canonical thermodynamics of the 2x2x4 cell.
--
-- What it shows: loading the shipped CE data ("cuau"; any tempera-ce file
-- works the same way), the multiplicities found by distance classification,
-- the formation energies of L1_2 Cu3Au, L1_0 CuAu and L1_2 CuAu3 on the
-- 2x2x4 and 4x4x4 cells (against the published validation values), their
-- composition x_Au and order parameter Q, and an exact enumeration of the
-- 2^16 configurations of the 16-site cell at 500, 680 and 1200 K with the
-- exact marginal of x_Au.
-- Expected time: about a second on one CPU core.
local tp = require "tempera"

local P = tp.params{ h = 0.0 }
local kB = tp.model.kB

local want = { -0.034167194237, -0.036182488075, -0.018754351040 }
local names = { "L1_2 Cu3Au", "L1_0 CuAu ", "L1_2 CuAu3" }

-- Au sites of each structure from the integer a/2 coordinates
local function structure(lat, which, x)
  for i = 0, lat.n - 1 do
    local X, Y, Z = lat:position(i)
    local corner = X % 2 == 0 and Y % 2 == 0 and Z % 2 == 0
    local au
    if which == 1 then au = corner elseif which == 2 then au = Z % 2 == 0 else au = not corner end
    x[i] = au and 1 or 0
  end
  return x
end

for _, n in ipairs { { 2, 2, 4 }, { 4, 4, 4 } } do
  local lat = tp.lattice.fcc{ n = n }
  local model = tp.model.cluster_expansion{ lattice = lat, ce = "cuau", h = P.h }
  local xau, Q = tp.cv.x_au(lat), tp.cv.order(lat)
  print(string.format("# %s", tostring(model)))
  if n[1] == 2 then
    local mult = {}
    for _, c in ipairs(model.clusters) do mult[#mult + 1] = string.format("%s:%d", c.name, c.multiplicity) end
    print("# figures per site: " .. table.concat(mult, " "))
  end
  local x = lat:config()
  for s = 1, 3 do
    structure(lat, s, x)
    local e = model:energy(x) / lat.n
    print(string.format("%s  x_Au = %.2f  Q = %.4f  E_form = %.12f eV/atom  (published %.12f, diff %.1e)",
      names[s], xau:value(x), Q:value(x), e, want[s], math.abs(e - want[s])))
  end
end

-- exact thermodynamics of the 16-site cell
local lat = tp.lattice.fcc{ n = { 2, 2, 4 } }
local model = tp.model.cluster_expansion{ lattice = lat, ce = "cuau", h = P.h }
local temps = { 500, 680, 1200 }
local betas = {}
for k, T in ipairs(temps) do betas[k] = 1 / (kB * T) end
local res = tp.exact(model, betas, { cv = tp.cv.x_au(lat), points = lat.n + 1, range = { 0, 1 } })
print("# exact enumeration, 2x2x4 cell, h = " .. P.h .. " eV")
print("   T/K   <E>/N (meV)   C/kB per site   <x_Au>   P(x_Au = 1/4)  P(x_Au = 1/2)")
for k, r in ipairs(res) do
  local mx = 0
  for g, p in ipairs(r.marginal) do mx = mx + p * r.grid[1][g] end
  print(string.format("%6d  %11.5f  %14.6f  %8.5f  %13.6f  %13.6f", temps[k], 1000 * r.energy_per_site,
    r.heat_capacity, mx, r.marginal[5], r.marginal[9]))
end
