-- Bad input to lattices, models, CE files and exact enumeration gives a
-- clear message at the recipe's line (or the CE file's line).
local tp = require "tempera"

local function fails(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern), ("error %q does not match %q"):format(tostring(err), pattern))
end

fails("model_errors.lua:%d+: tp.lattice has no 'hexagonal'", function() return tp.lattice.hexagonal(4) end)
fails("model_errors.lua:%d+: unknown lattice 'kagome'", function() return tp.lattice.get("kagome", 4) end)
fails("L must be a positive integer", function() return tp.lattice.square(0) end)
fails("model_errors.lua:%d+: tp.lattice.fcc: n must be", function() return tp.lattice.fcc{ n = { 2, 2 } } end)

local lat = tp.lattice.square(3)
fails("model_errors.lua:%d+: tp.model.potts: q must be in 2..255, got 1", function() return tp.model.potts{ lattice = lat, q = 1 } end)
fails("tp.model.ising: unknown option 'j'", function() return tp.model.ising{ lattice = lat, j = 1 } end)
fails("3 coupling shells but the lattice has 2", function() return tp.model.ising{ lattice = lat, J = { 1, 1, 1 } } end)
fails("option 'lattice' must be a tp.lattice", function() return tp.model.ising{ lattice = 3 } end)
fails("tp.model has no 'heisenberg'", function() return tp.model.heisenberg{} end)

-- a malformed CE file names the file and line
local path = os.tmpname()
local f = assert(io.open(path, "w"))
f:write("tempera-ce 1\nname broken\ncluster c1 -0.003 1 0 0 0\ncluster c2 0.01 12 0 0 0 1 1\n")
f:close()
fails(path:gsub("%p", "%%%0") .. ":4: cluster points need 3 coordinates each",
  function() return tp.model.cluster_expansion{ lattice = tp.lattice.fcc{ n = { 2, 2, 4 } }, ce = path } end)
f = assert(io.open(path, "w"))
f:write("tempera-ce 1\ncluster p 0.1 6  0 0 0  1 1 0\n")
f:close()
fails(":2: cluster p: the file gives multiplicity 6 but 12",
  function() return tp.model.cluster_expansion{ lattice = tp.lattice.fcc{ n = { 2, 2, 4 } }, ce = path } end)
os.remove(path)
fails("/no/such/file.ce: cannot open", function() return tp.model.cluster_expansion{ lattice = tp.lattice.fcc(2, 2, 4), ce = "/no/such/file.ce" } end)
fails("written for a 'fcc' lattice, got a 'square'", function() return tp.model.cluster_expansion{ lattice = lat, ce = "cuau" } end)

-- CVs and exact enumeration
fails("cv fraction: token must be in 0..2, got 5", function() return tp.cv.fraction(lat, 5, 3) end)
fails("tp.cv has no 'energy'", function() return tp.cv.energy(lat) end)
fails("more than 2^26 configurations", function() return tp.exact(tp.model.ising{ lattice = tp.lattice.square(6) }, 0.4) end)
fails("first argument must be a tp.model", function() return tp.exact(lat, 0.4) end)
local m = tp.model.ising{ lattice = lat }
fails("option 'range' is required", function() return tp.exact(m, 0.4, { cv = tp.cv.lua{ lattice = lat, fn = function() return 0 end } }) end)

-- a Lua model whose function returns no number: said so at the recipe's line
local lat3 = tp.lattice.square(3)
local nilE = tp.model.lua{ lattice = lat3, name = "broken", energy = function(x) if x[0] == 1 then return nil end return 0 end }
fails("tp.model.lua 'broken': the energy function returned nil", function()
  return tp.mc.sample{ model = nilE, beta = 0.5, chains = 2, burn_in = 10, samples = 2, seed = 1, progress = false } end)
local nilDE = tp.model.lua{ lattice = lat3, name = "nde", energy = function() return 0 end, de = function() return "x" end }
fails("tp.model.lua 'nde': the de function returned x", function()
  return tp.mc.sample{ model = nilDE, beta = 0.5, chains = 2, burn_in = 2, samples = 2, seed = 1, progress = false } end)
