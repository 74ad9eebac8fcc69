-- Reflecting walls at the hard edges of a CV: the deposited values (a hill
-- and its mirror image; a hill on the wall is its own image), the 'auto'
-- rule, save/load, and the PMF next to the edge against exact enumeration:
-- WT-MetaD on Ising 4x4 at beta 0.6 with sigma 0.1 (the hill as wide as a
-- grid step of m) is within 0.15 kT of exact everywhere with walls, and
-- about 0.5 kT off at m = +-1 without them (the case that fails without).
local tp = require "tempera"
local ffi = require "ffi"

local function close(a, b, tol, what) assert(math.abs(a - b) <= tol, string.format("%s: %.15g vs %.15g", what, a, b)) end

local lat = tp.lattice.square(4)
local m = tp.cv.magnetization(lat)
-- one hill at 0.9 on [-1, 1] (11 points, sigma 0.2), plain metadynamics
local b = tp.bias.grid{ cv = m, points = 11, sigma = 0.2, height = 1, bias_factor = 1, kT = 1 }
assert(b:info().walls[1][1] and b:info().walls[1][2], "auto walls on the magnetisation's edges")
b:deposit({ 0.9 })
local inv = 1 / (2 * 0.2 ^ 2)
close(b:value(1.0), math.exp(-0.01 * inv) + math.exp(-0.01 * inv), 1e-14, "hill plus its image at the wall")
close(b:value(0.6), math.exp(-0.09 * inv) + math.exp(-0.25 * inv), 1e-14, "image's tail inside")
close(b:value(-1.0), 2 * math.exp(-3.61 * inv) + math.exp(-4.41 * inv), 1e-30, "both walls")
-- a hill on the wall is its own image
local w = tp.bias.grid{ cv = m, points = 11, sigma = 0.2, height = 1, bias_factor = 1, kT = 1 }
w:deposit({ 1.0 })
close(w:value(1.0), 1, 1e-15, "hill on the wall")
-- no walls where the box stops short of the CV's bound; none on request
local inner = tp.bias.grid{ cv = m, range = { -0.5, 1 }, points = 11, sigma = 0.2, height = 1, bias_factor = 1, kT = 1 }
local iw = inner:info().walls[1]
assert(not iw[1] and iw[2], "walls only at the CV's own bound")
local none = tp.bias.grid{ cv = m, points = 11, sigma = 0.2, height = 1, bias_factor = 1, kT = 1, walls = "none" }
none:deposit({ 0.9 })
close(none:value(1.0), math.exp(-0.01 * inv), 1e-15, "no image without walls")
-- save and load keep the walls
b:save("walls.bias")
local b2 = tp.bias.load("walls.bias")
assert(b2:info().walls[1][2], "walls lost in save/load")
b2:deposit({ 0.9 })
b:deposit({ 0.9 })
close(b2:value(1.0), b:value(1.0), 1e-15, "loaded bias deposits the same")
local ok, err = pcall(tp.bias.grid, { cv = m, points = 11, sigma = 0.2, height = 1, kT = 1, walls = "sideways" })
assert(not ok and err:find("walls must be"), err)

-- the PMF next to the edge
local beta, points = 0.6, 33
local model = tp.model.ising{ lattice = lat }
local ex = tp.exact(model, beta, { cv = m, points = points, range = { -1, 1 } })
local function worst_error(walls)
  local bias = tp.bias.grid{ cv = m, points = points, sigma = 0.1, height = 0.5, bias_factor = 10, beta = beta,
    walls = walls }
  tp.mc.metad{ model = model, cv = m, bias = bias, beta = beta, chains = 64, pace = 16, cycles = 3000, seed = 3,
    progress = false }
  local F = bias:pmf()
  local d, c = 0, 0
  for i = 1, points do if ex.pmf[i] < math.huge then d, c = d + F[i - 1] - ex.pmf[i], c + 1 end end
  d = d / c
  local worst, at = 0, nil
  for i = 1, points do
    if ex.pmf[i] < math.huge then
      local e = math.abs(F[i - 1] - d - ex.pmf[i]) * beta
      if e > worst then worst, at = e, ex.grid[1][i] end
    end
  end
  return worst, at
end
local with, at_with = worst_error("auto")
local without, at_without = worst_error("none")
print(string.format("largest PMF error: %.3f kT (m = %+.3f) with walls, %.3f kT (m = %+.3f) without",
  with, at_with, without, at_without))
assert(with <= 0.15, "with walls the PMF is " .. with .. " kT off")
assert(without >= 0.3 and math.abs(at_without) == 1, "without walls the error should sit at the edge")
