-- tp.report{ samples = batch, ... } (man tempera-analysis(5)) on the 3x3
-- Ising model: the report and its pictures exist and are valid PNGs, every
-- number in its table equals the same statistic computed directly with
-- tp.analysis, the exact reference equals tp.exact, a Swendsen-Wang
-- reference agrees with it, and exact samples reweighted with 'none' agree
-- with the exact reference within the stated standard errors.
local tp = require "tempera"
local ffi = require "ffi"
local A = tp.analysis

local dir = string.format("%s/analysis_report_samples_%d_%d", os.getenv("TMPDIR") or "/tmp", os.time(), math.random(1e6))
assert(ffi.C.tp_mkdir_p(dir) == 0)
local pngs = tp.plot.terminal_kind() == "pngcairo" or tp.plot.terminal_kind() == "png"

local function read(p) local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s end
local function same(a, b, what)
  assert(a == b or math.abs(a - b) <= 1e-12 * (1 + math.abs(b)), ("%s: %.17g vs %.17g"):format(what, a, b))
end

local beta, N = 0.4, 9
local lat = tp.lattice.square(3)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local kT = 1 / beta

-- every configuration, enumerated here (site i = bit i of s) and weighted exp(-beta E)
local S = 2 ^ N
local all = ffi.new("uint8_t[?]", S * N)
for s = 0, S - 1 do for i = 0, N - 1 do all[s * N + i] = math.floor(s / 2 ^ i) % 2 end end
local allE = model:energies(all, S)
local allw = ffi.new("double[?]", S)
for s = 0, S - 1 do allw[s] = -beta * allE[s] end
local ex = tp.exact(model, beta)

local function check_files(path, numbers, min_pictures)
  local md = read(path)
  assert(md:find("| observable | estimate | error | reference", 1, true), "no observables table")
  assert(read(path:gsub("%.md$", ".html")):find("</html>"), "no html")
  if pngs then
    assert(#numbers.pictures >= min_pictures, "only " .. #numbers.pictures .. " pictures")
    for _, p in ipairs(numbers.pictures) do
      local w, h = tp.plot.png_info(p)
      assert(w and w >= 300 and h >= 300, "not a valid PNG: " .. p)
      assert(#read(p) > 3000, p .. " is suspiciously small")
      assert(read(p:gsub("%.png$", ".dat")):find("%d"), "no data beside " .. p)
      assert(md:find("(" .. p:match("[^/]+$") .. ")", 1, true), "report.md does not show " .. p)
    end
  end
  return md
end

-- 1. a tiny untrained network, reweighted by likelihood, against 'exact'
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 8, depth = 1, heads = 2, seed = 4, backend = "cpu" }
local sampler = tp.sampler.masked_diffusion(net, { model = model, beta = beta, cv = m })
local s = sampler:sample(400, { seed = 1 })
local path, r = tp.report{ samples = s, reweight = "likelihood", reference = "exact", model = model,
  observables = { "mag", "corr", "energy", m }, out = dir .. "/exact", title = "3x3 Ising" }
assert(path == dir .. "/exact/report.md", path)
local md = check_files(path, r, 6)
local fmt = tp.report.fmt
for _, k in ipairs { "energy", "mag", "magnetization" } do
  local o = r.observables[k]
  local row = string.format("| %s | %s | %s | %s | 0 |", o.label:gsub("|", "\\|"), fmt(o.estimate), fmt(o.err), fmt(o.reference))
  assert(md:find(row, 1, true), "report.md lacks the row " .. row)
end
assert(md:find("| G(r=1) | " .. fmt(r.observables.corr.estimate[1]), 1, true), "report.md lacks G(r=1)")

-- weights, estimates and bootstrap errors: tp.analysis directly
local W = A.weights(s.log_rw, s.n)
same(r.ness, W.ness, "NESS")
same(r.log_z, W.log_z, "log Z-hat")
local e = ffi.new("double[?]", s.n)
for i = 0, s.n - 1 do e[i] = s.energy[i] / N end
local st = A.stats{ bootstrap = 100, seed = 1 }
st:add(e, s.log_rw, s.n)
local sum = st:summary()
same(r.observables.energy.estimate, sum.mean, "energy estimate")
same(r.observables.energy.err, sum.err.mean, "energy bootstrap error")
-- the exact reference is tp.exact's
same(r.observables.energy.reference, ex.energy_per_site, "exact energy per site")
assert(r.observables.energy.ref_err == 0, "an exact reference has no error")
-- CV: histogram on the reported bins; JS and PMF RMSE against the enumeration here
local mv, mall = m:eval(s.x, s.n), m:eval(all, S)
local cvr = r.observables.magnetization
local hs = A.hist{ range = cvr.range, bins = cvr.bins }
hs:add(mv, s.log_rw, s.n)
local hr = A.hist{ range = cvr.range, bins = cvr.bins }
hr:add(mall, allw, S)
same(cvr.js, A.js(hs, hr), "JS of the magnetization")
same(cvr.pmf_rmse, (A.pmf_rmse(hs:pmf(kT), hr:pmf(kT))), "PMF RMSE along the magnetization")
assert(math.abs(cvr.reference) < 1e-12, "exact <m> is 0 by symmetry")
-- |m| and the correlation
local absm = ffi.new("double[?]", s.n)
for i = 0, s.n - 1 do absm[i] = math.abs(mv[i]) end
local sa = A.stats{}
sa:add(absm, s.log_rw, s.n)
same(r.observables.mag.estimate, sa:summary().mean, "<|m|>")
local c = A.corr{ L = 3 }
c:add(s.x, s.log_rw, s.n)
same(r.observables.corr.estimate[1], c:result().g[2], "G(1)")
local ce = A.corr{ L = 3 }
ce:add(all, allw, S)
same(r.observables.corr.reference[1], ce:result().g[2], "exact G(1)")

-- 2. the same samples against Swendsen-Wang chains: the SW reference agrees
-- with the exact values within 5 of its standard errors (fixed seed)
local path2, r2 = tp.report{ samples = s, reference = "swendsen_wang", sampler = sampler,
  reference_opts = { chains = 8, samples = 400, seed = 3 }, observables = { "energy", "mag", m }, out = dir .. "/sw" }
check_files(path2, r2, 5)
for _, k in ipairs { "energy", "mag", "magnetization" } do
  local o2, o1 = r2.observables[k], r.observables[k]
  assert(o2.ref_err > 0, k .. ": a sampled reference has an error bar")
  assert(math.abs(o2.reference - o1.reference) < 5 * o2.ref_err,
    ("%s: Swendsen-Wang %g +- %g vs exact %g"):format(k, o2.reference, o2.ref_err, o1.reference))
  same(o2.estimate, o1.estimate, k .. " estimate does not depend on the reference")
end

-- 3. exact samples (inverse CDF over the enumeration), reweight = 'none':
-- every estimate agrees with the exact reference within 4 standard errors
local n = 4000
local cdf, tot = {}, 0
for j = 0, S - 1 do tot = tot + math.exp(allw[j] - allw[0]); cdf[j] = tot end
local rng = tp.rng{ seed = 11, stream = 0 }
local x = ffi.new("uint8_t[?]", n * N)
for i = 0, n - 1 do
  local u, lo, hi = rng:uniform() * tot, 0, S - 1
  while lo < hi do local mid = math.floor((lo + hi) / 2); if cdf[mid] > u then hi = mid else lo = mid + 1 end end
  ffi.copy(x + i * N, all + lo * N, N)
end
local path3, r3 = tp.report{ samples = { x = x, n = n }, reweight = "none", reference = "exact", model = model, beta = beta,
  observables = { "energy", "mag", "corr", m }, out = dir .. "/none" }
check_files(path3, r3, 6)
for _, k in ipairs { "energy", "mag", "magnetization" } do
  local o = r3.observables[k]
  assert(math.abs(o.z) < 4, ("%s: %g +- %g vs exact %g (z = %g)"):format(k, o.estimate, o.err, o.reference, o.z))
  assert(o.js < 0.01, k .. ": JS " .. o.js)
end
local cr = r3.observables.corr
assert(math.abs(cr.estimate[1] - cr.reference[1]) < 4 * cr.err[1], ("G(1) %g +- %g vs %g"):format(cr.estimate[1], cr.err[1], cr.reference[1]))
assert(r3.ness == 1 and r3.log_z == nil, "unit weights")

-- 4. a reference given as a batch, and as a dump of the same samples: used as given
local dpath = dir .. "/ref.tpd"
local wd = tp.dump.open(dpath, { fields = { { name = "config", type = "config", states = 2, shape = { 3, 3 } } } })
wd:append_batch(n, { config = x })
wd:close()
for _, ref in ipairs { { x = x, n = n }, dpath } do
  local _, r4 = tp.report{ samples = s, sampler = sampler, reference = ref, observables = { "energy", m }, bootstrap = 20,
    out = dir .. "/given" }
  same(r4.observables.energy.reference, r3.observables.energy.estimate, "given reference <E>/N")
  same(r4.observables.magnetization.reference, r3.observables.magnetization.estimate, "given reference <m>")
  assert(r4.observables.energy.ref_err > 0, "a given reference has a bootstrap error")
end

-- errors name the recipe line
local function fails(pattern, f)
  local ok, err = pcall(f)
  assert(not ok and tostring(err):find(pattern), ("error %q does not match %q"):format(tostring(err), pattern))
end
local big = tp.model.ising{ lattice = tp.lattice.square(6) }
local big_opts = { samples = { x = ffi.new("uint8_t[36]"), n = 1 }, reweight = "none", model = big, beta = 0.4,
  reference = "exact", out = dir .. "/big" }
fails("analysis_report_samples.lua:" .. (debug.getinfo(1, "l").currentline + 1) .. ": tp.report: reference 'exact' would enumerate 2%^36",
  function() local p = tp.report(big_opts); return p end)
fails("reweight = 'bias' needs the batch's logw_bias", function()
  return tp.report{ samples = { x = x, n = n }, reweight = "bias", model = model, beta = beta, out = dir .. "/b" }
end)
fails("give beta =", function() return tp.report{ samples = { x = x, n = n }, model = model, out = dir .. "/b" } end)
fails("observables%[2%] must be", function()
  return tp.report{ samples = s, model = model, observables = { "energy", "entropy" }, out = dir .. "/b" }
end)
os.execute("rm -rf '" .. dir .. "'")
