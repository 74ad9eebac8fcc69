-- Reading PLUMED's HILLS files as PLUMED writes them (files written here to
-- its documented rules): periodic CVs (#! SET min_phi -pi / max_phi pi,
-- distances to the nearest image), the default stretched-gaussian kernel
-- (cut at dp2 = 6.25 and stretched to reach zero there), labels with
-- underscores, a half-written last line of a running simulation (skipped),
-- .gz files, multivariate hills (refused, saying why); and the recorder
-- with the bias object a user has.  Sums against an independent evaluation
-- written out here, to 1e-9.
local tp = require "tempera"
local ffi = require "ffi"
local P = tp.plumed

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local PI = math.pi
-- hills near the periodic edge and inside, PLUMED's well-tempered heights
local hills = { { -3.0, 0.35, 1.2 }, { 3.1, 0.35, 1.1 }, { 0.4, 0.5, 0.9 }, { -PI + 0.05, 0.2, 0.7 } }
local gamma = 10
local lines = { "#! FIELDS time phi sigma_phi height biasf", "#! SET multivariate false",
  "#! SET kerneltype stretched-gaussian", "#! SET min_phi -pi", "#! SET max_phi pi" }
for i, h in ipairs(hills) do
  lines[#lines + 1] = string.format("%d %.17g %.17g %.17g %g", i, h[1], h[2], h[3], gamma)
end
write("HILLS.phi", table.concat(lines, "\n") .. "\n")
local h = assert(P.read_hills("HILLS.phi"))
assert(h.kernel == "stretched-gaussian" and math.abs(h.period[1] - 2 * PI) < 1e-15, "periodic, stretched")
local G = 61
local V = h:sum{ lo = { -PI }, hi = { PI }, points = { G } }
local scale = (gamma - 1) / gamma             -- file heights -> deposited
local ec = math.exp(-6.25)
local worst = 0
for j = 0, G - 1 do
  local x = j == G - 1 and PI or -PI + j * (2 * PI) / (G - 1)
  local v = 0
  for _, hl in ipairs(hills) do
    local d = x - hl[1]
    d = d - 2 * PI * math.floor(d / (2 * PI) + 0.5)
    local dp2 = 0.5 * d * d / (hl[2] * hl[2])
    if dp2 < 6.25 then v = v + hl[3] * scale * (math.exp(-dp2) - ec) / (1 - ec) end
  end
  worst = math.max(worst, math.abs(V[j] - v))
end
assert(worst < 1e-9, "periodic stretched-gaussian sum off by " .. worst)
-- the edge: -pi and pi are one point
assert(math.abs(V[0] - V[G - 1]) < 1e-12, "the two ends of a periodic CV differ")

-- plain gaussian, an underscored label, a torn last line, and .gz
write("HILLS.d", "#! FIELDS time d_a_b sigma_d_a_b height biasf\n#! SET kerneltype gaussian\n"
  .. "1 0.5 0.1 2 1\n2 0.7 0.2 1 1\n3 0.6")
local hd = assert(P.read_hills("HILLS.d"))
assert(hd.cv[1] == "d_a_b" and hd.n == 2 and hd.torn, "underscored label / torn last line")
local Vd = hd:sum{ lo = { 0 }, hi = { 1 }, points = { 11 } }
for j = 0, 10 do
  local x = j / 10
  local v = 2 * math.exp(-0.5 * (x - 0.5) ^ 2 / 0.01) + math.exp(-0.5 * (x - 0.7) ^ 2 / 0.04)
  assert(math.abs(Vd[j] - v) < 1e-9, "gaussian sum at " .. x)
end
assert(os.execute("gzip -c HILLS.phi > HILLS.phi.gz") == 0 or true)
local hz = assert(P.read_hills("HILLS.phi.gz"))
local Vz = hz:sum{ lo = { -PI }, hi = { PI }, points = { G } }
for j = 0, G - 1 do assert(Vz[j] == V[j], ".gz read differs") end
-- a bad line that is not the last is still an error, at its line
write("HILLS.bad", "#! FIELDS time x sigma_x height\n1 0.5 0.1\n2 0.7 0.2 1\n")
local tb, eb = P.read("HILLS.bad")
assert(not tb and eb:find("HILLS.bad:2"), tostring(eb))
-- multivariate: refused with the reason
write("HILLS.mv", "#! FIELDS time x sigma_x height\n#! SET multivariate true\n1 0.5 0.1 1\n")
local hm, em = P.read_hills("HILLS.mv")
assert(not hm and em:find("multivariate"), tostring(em))

-- the recorder takes the bias object a user has
local lat = tp.lattice.square(4)
local m = tp.cv.magnetization(lat)
local bias = tp.bias.grid{ cv = m, points = 33, sigma = 0.1, height = 1, beta = 1, walls = "none" }
local rec = P.hills("HILLS.rec", { bias = bias, cv = { "m" } })
rec:deposit(ffi.new("double[3]", -0.5, 0, 0.25), 3)
local hr = assert(P.read_hills("HILLS.rec"))
assert(hr.n == 3 and hr.cv[1] == "m", "recorded hills")
local Vr = hr:sum_bias(bias)
local vb = bias:values()
for j = 0, 32 do assert(math.abs(Vr[j] - vb[j]) < 1e-9, "recorded hills sum to the bias") end
print("PLUMED formats: periodic stretched-gaussian, underscores, torn line, .gz, recorder")
