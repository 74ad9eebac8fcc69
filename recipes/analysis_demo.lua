-- recipes/analysis_demo.lua -- reweighting and a report, end to end.
--
-- What it shows (man tempera-analysis; tempera-methods(7)): the 4x4
-- periodic Ising model at beta = 0.4407 is enumerated exactly (2^16
-- states); configurations are then drawn exactly from a BIASED target
-- pi_V ~ exp(-beta (E + V(m))) whose bias V = -(1 - 1/gamma) F(m) is what
-- a converged well-tempered metadynamics run (gamma = 10) would have
-- built.  The samples go to a dump with their log-weights log w = beta V(m)
-- (bias-based reweighting), and tp.analysis streams the dump back to
-- recover the physical ensemble: PMF along m with bootstrap error bands,
-- JS divergence of the m histogram, <E>/N, heat capacity, log Z-hat and
-- the free energy, and the two-point correlation -- each next to its exact
-- value.  The bias is also written as a PLUMED HILLS file and read back.
-- It ends with a report (Markdown + self-contained HTML + pictures + the
-- plotted data) in analysis_demo-report/ under --out (default .), and
-- shows the one-call form tp.report{ samples = batch, reweight = "bias",
-- reference = "exact", ... } (analysis_demo-samples/).
-- Expected time: about 3 s on one CPU core.
local tp = require "tempera"
local ffi = require "ffi"
local A = tp.analysis

local P = tp.params{ beta = 0.4407, gamma = 10, samples = 40000, bootstrap = 100, seed = 11 }
local L, N = 4, 16
local beta, kT = P.beta, 1 / P.beta

-- ---- exact answers: tp.exact enumerates the 2^16 states ----------------------
local lat = tp.lattice.square(L)
local mcv = tp.cv.magnetization(lat)
local ex = tp.exact(tp.model.ising{ lattice = lat }, beta, { cv = mcv, points = N + 1, range = { -1, 1 } })
local exact = { e = ex.energy_per_site, c = ex.heat_capacity, logZ = ex.log_z }
local PM, Fx, mvals = ex.marginal, {}, ex.grid[1]       -- P(m) and F(m) = -kT log P(m), min 0
local fmin = math.huge
for k = 1, 17 do fmin = math.min(fmin, ex.pmf[k]) end
for k = 1, 17 do Fx[k] = ex.pmf[k] - fmin end

-- ---- exact samples from the biased target ------------------------------------
-- (recipe code: plain Lua over all states; energies shifted by +32 so the
-- Boltzmann factors stay in range, undone in log Z_V below)
local E, M = ffi.new("int8_t[65536]"), ffi.new("int8_t[65536]")
for st = 0, 65535 do
  local e, m = 0, 0
  for i = 0, N - 1 do
    local x, y = i % L, math.floor(i / L)
    local s = bit.band(bit.rshift(st, i), 1) * 2 - 1
    local r = bit.band(bit.rshift(st, y * L + (x + 1) % L), 1) * 2 - 1
    local d = bit.band(bit.rshift(st, ((y + 1) % L) * L + x), 1) * 2 - 1
    e, m = e - s * (r + d), m + s
  end
  E[st], M[st] = e, m
end
local V = {}
for k = 1, 17 do V[k] = -(1 - 1 / P.gamma) * Fx[k] end
local cdf, ZV = ffi.new("double[65536]"), 0
for st = 0, 65535 do
  ZV = ZV + math.exp(-beta * (E[st] + 32 + V[(M[st] + 16) / 2 + 1]))
  cdf[st] = ZV
end
-- ZV sums exp(-beta (E + 32 + V)) = Z_V exp(-32 beta), so log Z_V = log ZV + 32 beta
local logZV = math.log(ZV) + 32 * beta

local dump_path = tp.out("analysis_demo.tpd")
local w = tp.dump.open(dump_path, { fields = {
    { name = "config", type = "config", states = 2, shape = { L, L } },
    { name = "energy", type = "f64" }, { name = "m", type = "f64" }, { name = "logw", type = "f64" } },
  meta = { beta = tostring(beta), bias = "V = -(1 - 1/gamma) F_exact(m), gamma = " .. P.gamma },
  chunk = 4096 })
local rng = tp.rng(1)
local n = P.samples
local cfg, e1, m1, lw1 = ffi.new("uint8_t[?]", n * N), ffi.new("double[?]", n), ffi.new("double[?]", n), ffi.new("double[?]", n)
for b = 0, n - 1 do
  local u = rng:uniform() * ZV
  local lo, hi = 0, 65535
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] > u then hi = mid else lo = mid + 1 end
  end
  for i = 0, N - 1 do cfg[b * N + i] = bit.band(bit.rshift(lo, i), 1) end
  e1[b], m1[b] = E[lo], M[lo] / N
  lw1[b] = beta * V[(M[lo] + 16) / 2 + 1]        -- log w = beta V(s)
end
w:append_batch(n, { config = cfg, energy = e1, m = m1, logw = lw1 })
w:close()

-- ---- analysis: stream the dump back ---------------------------------------------
local res = assert(A.dump(dump_path, { logw = "logw", stats = { "energy" }, bootstrap = P.bootstrap, seed = 5,
  hist = { m = { range = { -1, 1 }, step = 2 / N } }, corr = { field = "config" } }))
local plain = assert(A.dump(dump_path, { hist = { m = { range = { -1, 1 }, step = 2 / N } } }))
local es = res.stats.energy
local F, dF = res.hist.m:pmf(kT)
local rmse = A.pmf_rmse(F, Fx)
local rmse_plain = A.pmf_rmse(plain.hist.m:pmf(kT), Fx)
local js = A.js(res.hist.m:counts(), PM)
local js_plain = A.js(plain.hist.m:counts(), PM)
local C, dC = A.heat_capacity(es, beta, N)
-- log Z-hat: the weights beta V are relative to the biased target, whose
-- normaliser Z_V is known here, so log Z = log Z_V + log mean(exp(beta V))
local logZ = res.weights.log_z + logZV

print(string.format("# 4x4 Ising, beta = %.4f: %d exact samples of the biased target, reweighted", beta, res.n))
print(string.format("NESS                 %8.4f", res.weights.ness))
print(string.format("%-20s %10s %10s %10s", "quantity", "exact", "estimate", "bootstrap"))
print(string.format("%-20s %10.4f %10.4f %10.4f", "<E>/N", exact.e, es.mean / N, es.err.mean / N))
print(string.format("%-20s %10.4f %10.4f %10.4f", "heat capacity", exact.c, C, dC))
print(string.format("%-20s %10.4f %10.4f %10.4f", "log Z", exact.logZ, logZ, es.err.log_z))
print(string.format("%-20s %10.4f %10.4f %10.4f", "free energy F/N", -exact.logZ / beta / N, -logZ / beta / N, es.err.log_z / beta / N))
print(string.format("PMF RMSE vs exact:   reweighted %.3f, not reweighted %.3f (kT = %.3f)", rmse, rmse_plain, kT))
print(string.format("JS(m hist, exact):   reweighted %.5f, not reweighted %.5f", js, js_plain))
print(string.format("G(r) r=1: %.4f  r=2: %.4f   <|m|> = %.4f", res.corr.g[2], res.corr.g[3], res.corr.absm))

-- ---- PLUMED HILLS round trip: one delta-like hill per m value ---------------------
local hills = tp.out("analysis_demo.HILLS")
local centers, heights, vmin = {}, {}, math.huge
for k = 1, 17 do vmin = math.min(vmin, V[k]) end
for k = 1, 17 do centers[k], heights[k] = mvals[k], V[k] - vmin end
tp.plumed.write_hills(hills, { cv = { "m" }, centers = centers, sigma = { 0.02 }, heights = heights,
  bias_factor = P.gamma, n = 17 })
local h = assert(tp.plumed.read_hills(hills))
print(string.format("HILLS: %d hills, biasf %g, height at m = -1 in the file %.4f -> deposited %.4f",
  h.n, h.bias_factor, h.table:column("height")[0], h.heights[0]))

-- ---- pictures and the report ---------------------------------------------------------
local rep = tp.report.new{ out = tp.out("analysis_demo-report"), title = "Reweighting demo: 4x4 Ising, beta = 0.4407" }
rep:text("Exact samples of a well-tempered-biased target (gamma = " .. P.gamma .. "), reweighted with log w = beta V(m). " ..
  "Every estimate is compared with exact enumeration of the 2^16 states.")
rep:section("Parameters")
rep:meta{ beta = beta, gamma = P.gamma, samples = P.samples, bootstrap = P.bootstrap, seed = P.seed }
rep:section("Results")
rep:table{ header = { "quantity", "exact", "estimate", "bootstrap error" }, rows = {
  { "<E>/N", exact.e, es.mean / N, es.err.mean / N },
  { "heat capacity C", exact.c, C, dC },
  { "log Z", exact.logZ, logZ, es.err.log_z },
  { "NESS", "", res.weights.ness, es.err.ness },
  { "PMF RMSE (reweighted / not)", 0, rmse, rmse_plain },
  { "JS divergence of m (reweighted / not)", 0, js, js_plain } } }
local xs = res.hist.m:centers()
rep:figure(tp.plot.curves{ file = rep:path("pmf.png"), title = "PMF along m", xlabel = "m", ylabel = "F(m)",
  series = { { x = xs, y = F, err = dF, label = "reweighted (bootstrap band)" },
             { x = mvals, y = Fx, label = "exact", style = "points" },
             { x = xs, y = plain.hist.m:pmf(kT), label = "not reweighted", style = "lines" } } },
  "PMF from reweighted samples with its bootstrap error band, against the exact PMF (comparison overlay)")
local pexact, zsum = {}, 0
for k = 1, 17 do zsum = zsum + PM[k] end
for k = 1, 17 do pexact[k] = PM[k] / zsum end
rep:figure(tp.plot.hist{ file = rep:path("m_hist.png"), x = xs, y = { plain.hist.m:counts(), res.hist.m:counts(), pexact },
  labels = { "sampled (biased)", "reweighted", "exact" }, title = "histogram of m", xlabel = "m", ylabel = "probability" },
  "Histogram of m: biased samples, reweighted, exact")
local r = res.corr
rep:figure(tp.plot.curves{ file = rep:path("corr.png"), title = "two-point correlation", xlabel = "r", ylabel = "G(r)",
  series = { { x = r.r, y = r.g, label = "<s_i s_{i+r}>", style = "points" },
             { x = r.r, y = r.connected, label = "connected", style = "points" } } }, "Two-point correlation (reweighted)")
-- a "training curve": the PMF error as samples stream in
local hs, ns, errs = A.hist{ range = { -1, 1 }, step = 2 / N }, {}, {}
local d = assert(tp.dump.read(dump_path))
for c in d:chunks() do
  hs:add(c:get("m"), c:get("logw"), c.n)
  ns[#ns + 1], errs[#errs + 1] = hs.count, (A.pmf_rmse(hs:pmf(kT), Fx))
end
d:close()
rep:figure(tp.plot.curves{ file = rep:path("convergence.png"), title = "PMF error vs samples", xlabel = "samples",
  ylabel = "RMSE vs exact", logy = true, series = { { x = ns, y = errs, label = "reweighted PMF", style = "points" } } },
  "Convergence: RMSE of the PMF against the exact one as chunks stream in")
rep:dump(dump_path)
rep:write()
print("report: analysis_demo-report/report.md and report.html")

-- ---- the one-call form: tp.report{ samples = batch, ... } ----------------------------
-- The same samples as a batch (configurations, energies, bias log-weights
-- beta V) against exact enumeration done by tp.report itself: estimates
-- with bootstrap errors, JS and PMF RMSE per observable, overlay pictures.
local lat = tp.lattice.square(L)
local _, num = tp.report{ samples = { x = cfg, n = n, energy = e1, logw_bias = lw1 }, reweight = "bias",
  reference = "exact", model = tp.model.ising{ lattice = lat }, beta = beta,
  observables = { "energy", "mag", "corr", tp.cv.magnetization(lat) }, bootstrap = P.bootstrap, seed = 5,
  out = tp.out("analysis_demo-samples"), title = "tp.report{ samples = ... }: 4x4 Ising, beta = 0.4407" }
local function z4(v) return math.abs(v) < 5e-5 and 0 or v end   -- no "-0.0000" from rounding
for _, k in ipairs(num.order) do
  local o = num.observables[k]
  if k == "corr" then
    print(string.format("report{samples} G(r=1) %8.4f +- %.4f  exact %8.4f", o.estimate[1], o.err[1], o.reference[1]))
  else
    print(string.format("report{samples} %-13s %8.4f +- %.4f  exact %8.4f  JS %.5f  PMF RMSE %.3f", o.label, o.estimate,
      o.err, z4(o.reference), o.js, o.pmf_rmse))
  end
end
print("report: analysis_demo-samples/report.md")
