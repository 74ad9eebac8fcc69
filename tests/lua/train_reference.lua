-- tp.evaluate.mc_reference, the 2-D reference in trainer:evaluate and the
-- optional columns of tp.evaluate.summary_table.
-- 1. A Swendsen-Wang reference on the 4x4 Ising model at beta 0.35 agrees
--    with exact enumeration: E|m| within 5 standard errors (tau_int over
--    chains), P(m) within JS 2e-3 (64 x 500 samples; the JS of two
--    samplings of this 17-bin histogram at that size is ~1e-4), P(m > 0)
--    within 5 binomial standard errors inflated by tau 5.
-- 2. evaluate on the 2x2 Potts model with the 2-D simplex CV: the JS it
--    reports equals the JS of a histogram built here, sample by sample, on
--    the same grid (nearest point, last dimension fastest), to 1e-12.
-- 3. summary_table prints P(m>0) / log Z-hat / s/step only when a row has
--    them, and extra columns with their format.
local tp = require "tempera"
tp.threads(1)

-- 1. Swendsen-Wang reference against enumeration
local beta = 0.35
local lat = tp.lattice.square(4)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local ex = tp.exact(model, beta, { cv = m, points = 17, range = { -1, 1 } })
local ref = tp.evaluate.mc_reference{ model = model, beta = beta, cv = m, points = 17, range = { -1, 1 },
  chains = 64, burn_in = 100, samples = 500, seed = 3, progress = false }
assert(#ref.grid[1] == 17 and #ref.marginal == 17 and #ref.pmf == 17, "reference shaped like tp.exact's")
local em = 0
for i, g in ipairs(ex.grid[1]) do em = em + math.abs(g) * ex.marginal[i] end
local err = ref.mc.mag.err
assert(math.abs(ref.mag - em) < 5 * err, string.format("SW E|m| %.5f vs exact %.5f (err %.5f)", ref.mag, em, err))
local js = tp.analysis.js(ref.marginal, ex.marginal)
assert(js < 2e-3, string.format("SW P(m) vs exact: JS %.2e", js))
local s = 0
for i = 1, 17 do s = s + ref.marginal[i] end
assert(math.abs(s - 1) < 1e-12, "marginal sums to 1")
local pp = (1 - ex.marginal[9]) / 2
local sd = math.sqrt(pp * (1 - pp) * 5 / ref.n)
assert(math.abs(ref.p_plus - pp) < 5 * sd, string.format("P(m > 0) %.4f vs exact %.4f", ref.p_plus, pp))
assert(ref.corr1 and ref.corr1 > 0 and ref.corr1 < 1, "corr1 from the chains")

-- 2. 2-D reference in evaluate (Potts 2x2, simplex CV, 9 x 9 grid)
local plat = tp.lattice.square(2)
local potts = tp.model.potts{ lattice = plat, q = 3 }
local cv = tp.cv.simplex(plat)
local range = { { -0.6, 1.1 }, { -1, 1 } }
local pex = tp.exact(potts, 1.0, { cv = cv, points = { 9, 9 }, range = range })
local net = tp.nn.transformer{ lattice = plat, states = 3, embed = 8, depth = 1, heads = 2, seed = 4, backend = "cpu" }
local tr = tp.train.trainer{ net = net, model = potts, beta = 1.0, cv = cv, batch = 8, replicates = 2, seed = 4,
  progress = false }
tr:run(4)
local r = tr:evaluate{ n = 256, reference = pex, L = 2 }
assert(r.js and r.pmf_samples and #r.pmf_samples == 81, "2-D JS and PMF on the reference grid")
assert(r.mag and r.mag >= 0 and r.mag <= 1, "Potts Mag. in [0, 1]")
assert(r.s_step and r.s_step > 0, "wall seconds per step")
local g1, g2 = pex.grid[1], pex.grid[2]
local d1, d2 = (g1[9] - g1[1]) / 8, (g2[9] - g2[1]) / 8
local h, mx = {}, -math.huge
for i = 1, 81 do h[i] = 0 end
for b = 0, r.n - 1 do mx = math.max(mx, r.samples.log_rw[b]) end
for b = 0, r.n - 1 do
  local i = math.floor((r.samples.cv[2 * b] - g1[1]) / d1 + 0.5)
  local j = math.floor((r.samples.cv[2 * b + 1] - g2[1]) / d2 + 0.5)
  h[i * 9 + j + 1] = h[i * 9 + j + 1] + math.exp(r.samples.log_rw[b] - mx)
end
local js2 = tp.analysis.js(h, pex.marginal)
assert(math.abs(js2 - r.js) < 1e-12, string.format("evaluate's 2-D JS %.15g vs a histogram built here %.15g", r.js, js2))

-- 3. summary_table columns
local t1 = tp.evaluate.summary_table{ { name = "a", mag = 0.5 } }
assert(not t1:find("P(m>0)", 1, true) and not t1:find("s/step", 1, true), "no optional columns without values")
local t2 = tp.evaluate.summary_table({ { name = "a", mag = 0.5, p_plus = 0.25 }, { name = "b", s_step = 1.5, q = 7 } },
  { extra = { { key = "q", head = "Q", fmt = "%.1f" } } })
local lines = {}
for l in t2:gmatch("[^\n]+") do lines[#lines + 1] = l end
assert(lines[1]:find("P(m>0)", 1, true) and lines[1]:find("s/step", 1, true) and not lines[1]:find("log Z", 1, true),
  "header has exactly the columns some row fills: " .. lines[1])
assert(lines[2]:match("0%.250%s+%-%s+%-$"), "row a: P(m>0), no s/step, no Q: " .. lines[2])
assert(lines[3]:match("%-%s+1%.500%s+7%.0$"), "row b: s/step and the extra column: " .. lines[3])
