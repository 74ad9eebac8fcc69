-- The Lua face of lattices, built-in models, CVs and tp.exact: methods,
-- shapes, and a few exact identities.
local tp = require "tempera"

-- lattices
local lat = tp.lattice.square(3)
assert(lat.n == 9 and lat.dim == 2 and lat.shell_z[0] == 4, tostring(lat))
local right = lat:shift{ 1, 0 }
assert(right[0] == 1 and right[2] == 0 and right[5] == 3, "shift wraps")
assert(lat:site{ 2, 1 } == 5 and lat:site{ 0.5, 0 } == nil)
local x, y = lat:position(5)
assert(x == 2 and y == 1)
local nb, z = lat:neighbors(1)
assert(z == 4 and nb[4 * 4 + 3] == 5)
local tri = tp.lattice.custom{ cell = { { 1, 0 }, { 0.5, math.sqrt(3) / 2 } }, size = { 4, 4 }, kind = "triangular" }
assert(tri.shell_z[0] == 6 and tri.bipartite == 0, tostring(tri))
assert(tostring(tp.lattice.fcc{ n = { 2, 2, 4 } }):find("fcc 2x2x4 %(16 sites"))

-- Potts q = 3 on 3x3: the exact simplex marginal is a distribution, symmetric
-- under exchanging states 1 and 2 (y -> -y), and <E> matches the derivative
-- of log Z
local potts = tp.model.potts{ lattice = lat, q = 3 }
local sx = tp.cv.simplex(lat)
local betas = { 0.5, 1.005, 1.2 }
local res = tp.exact(potts, betas, { cv = sx, points = { 18, 21 }, range = { { -0.6, 1.1 }, { -1, 1 } } })
for b, r in ipairs(res) do
  assert(#r.marginal == 18 * 21 and #r.grid[1] == 18 and #r.grid[2] == 21)
  local s = 0
  for _, p in ipairs(r.marginal) do s = s + p end
  assert(math.abs(s - 1) < 1e-12, "marginal sums to 1")
  for i = 0, 17 do
    for j = 0, 20 do
      assert(math.abs(r.marginal[i * 21 + j + 1] - r.marginal[i * 21 + (20 - j) + 1]) < 1e-12, "y symmetry")
    end
  end
  local h = 1e-5
  local up = tp.exact(potts, betas[b] + h).log_z
  local dn = tp.exact(potts, betas[b] - h).log_z
  assert(math.abs(r.mean_e + (up - dn) / (2 * h)) < 1e-5, "dlogZ/dbeta")
end
assert(res[3].beta == 1.2 and res[3].free_energy == -res[3].log_z / 1.2)

-- CVs on one configuration and in batches
local c = lat:config(2)
for i = 0, 8 do c[i] = i % 3; c[9 + i] = 0 end
local v = tp.cv.fractions(lat, 3):eval(c, 2)
assert(math.abs(v[0] - 1 / 3) < 1e-15 and v[3] == 1 and v[5] == 0)
local a, b2 = sx:value(c + 9)
assert(a == 1 and b2 == 0, "all-0 state is the simplex vertex (1, 0)")

-- the cluster expansion from Lua
local fcc = tp.lattice.fcc{ n = { 2, 2, 4 } }
local ce = tp.model.cluster_expansion{ lattice = fcc, ce = "cuau" }
assert(#ce.clusters == 11 and ce.clusters[3].name == "c2_d0" and ce.clusters[3].multiplicity == 12)
local xa = fcc:config()
for i = 0, fcc.n - 1 do xa[i] = 1 end
local cf = ce:correlations(xa)
assert(cf.c4_d2 == 1 and cf[1] == 1)
assert(math.abs(ce:energy(xa)) < 1e-14, "pure Au has zero formation energy")
local found = tp.model.find_clusters(fcc, { size = 4, shells = 2 })
assert(found:find("cluster c4_0 0 8 ") and found:find("cluster c4_2 0 12 "), found)
assert(tp.exact.states(ce) == 65536)
