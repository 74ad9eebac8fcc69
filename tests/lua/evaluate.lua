-- tp.evaluate against brute force: the exact row (E|m|, E m^2, P(m > 0),
-- Corr., Potts Mag.) against sums over every state written here; the
-- measuring core on a set holding every state once with log-weights
-- -beta E (so every weighted estimate is an exact expectation) for
-- built-in and user observables, 'none' and array weightings; a dump
-- written and measured back; the table printing itself.
local tp = require "tempera"
local ffi = require "ffi"
local ev = tp.evaluate

local function close(a, b, tol, what)
  assert(math.abs(a - b) <= tol, string.format("%s: %.15g vs %.15g", what, a, b))
end

-- every state of an L x L lattice with q states, as one set
local function all_states(model, L, q, beta)
  local N = L * L
  local n = q ^ N
  local x = ffi.new("uint8_t[?]", n * N)
  for st = 0, n - 1 do
    local v = st
    for i = 0, N - 1 do x[st * N + i] = v % q; v = math.floor(v / q) end
  end
  local e = model:energies(x, n)
  return x, e, n
end

-- Ising 3x3 at beta 0.4
local L, beta = 3, 0.4
local lat = tp.lattice.square(L)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local x, e, n = all_states(model, L, 2, beta)
local N = L * L
local Z, am, m2, plus, c1 = 0, 0, 0, 0, 0
local mv, lw = ffi.new("double[?]", n), ffi.new("double[?]", n)
for st = 0, n - 1 do
  local w = math.exp(-beta * e[st])
  local s, bond = 0, 0
  for i = 0, N - 1 do
    local si = 2 * x[st * N + i] - 1
    s = s + si
    local r, c = math.floor(i / L), i % L
    bond = bond + si * (2 * x[st * N + r * L + (c + 1) % L] - 1)
  end
  mv[st], lw[st] = s / N, -beta * e[st]
  Z, am, m2, c1 = Z + w, am + w * math.abs(s / N), m2 + w * (s / N) ^ 2, c1 + w * bond / N
  if s > 0 then plus = plus + w end
end
local ex = tp.exact(model, beta, { cv = m, points = N + 1, range = { -1, 1 } })
local row = ev.exact_row(model, beta, { reference = ex })
close(row.mag, am / Z, 1e-12, "exact_row E|m|")
close(row.m2, m2 / Z, 1e-12, "exact_row E m^2")
close(row.p_plus, plus / Z, 1e-12, "exact_row P(m > 0)")
close(row.corr1, c1 / Z, 1e-12, "exact_row Corr.")
close(row.log_z, math.log(Z), 1e-10, "exact_row log Z")

-- every state once, weighted by exp(-beta E): exact expectations
local set = { n = n, x = x, energy = e, cv = mv, sites = N, logw = lw }
local r = ev.samples(set, { model = model, beta = beta, cv = m, reference = ex, L = L, bootstrap = 20, seed = 1,
  observables = { "energy", "abs_m", abs_m_fn = function(xx, i, sites)
    local s = 0
    for k = 0, sites - 1 do s = s + 2 * xx[i * sites + k] - 1 end
    return math.abs(s) / sites
  end } })
assert(r.weighting == "given", r.weighting)
close(r.mag, am / Z, 1e-12, "samples E|m|")
close(r.est.abs_m.value, am / Z, 1e-12, "built-in abs_m")
close(r.est.abs_m_fn.value, am / Z, 1e-12, "user observable")
close(r.est.energy.value, ex.mean_e, 1e-10, "energy")
close(r.corr1, c1 / Z, 1e-12, "samples Corr.")
assert(r.js < 1e-14, "JS of the exact histogram against the exact marginal: " .. r.js)
close(r.pmf_rmse_samples, 0, 1e-9, "PMF RMSE of the exact histogram")
-- unweighted: plain means over the states
local u = ev.samples(set, { model = model, cv = m, weights = "none", observables = { "abs_m" }, bootstrap = 0 })
local plain = 0
for st = 0, n - 1 do plain = plain + math.abs(mv[st]) end
close(u.est.abs_m.value, plain / n, 1e-12, "unweighted mean")
local ok, err = pcall(ev.samples, set, { weights = "likelihood" })
assert(not ok and err:find("log_rw") and err:find("evaluate.lua:%d+"), err)

-- a dump written and measured back: the same numbers
set.log_rw, set.logw_bias, set.logq = lw, ffi.new("double[?]", n), ffi.new("double[?]", n)
ev.write_dump("ev.tpd", set, model)
local rd = assert(ev.dump("ev.tpd", { model = model, beta = beta, cv = m, reference = ex, L = L, bootstrap = 20,
  seed = 1 }))
assert(rd.weighting == "likelihood", rd.weighting)
close(rd.mag, am / Z, 1e-12, "dump E|m|")
close(rd.log_z, r.log_z or math.log(Z) - math.log(n), 1e-9, "dump log Z-hat")

-- Potts q = 3 on 3x3: Mag. and Corr. of the exact row against brute force
local pm = tp.model.potts{ lattice = lat, q = 3 }
local px, pe, pn = all_states(pm, L, 3, 0.5)
local PZ, pmag, pc = 0, 0, 0
for st = 0, pn - 1 do
  local w = math.exp(-0.5 * pe[st])
  local cnt, same = { 0, 0, 0 }, 0
  for i = 0, N - 1 do
    local t = px[st * N + i]
    cnt[t + 1] = cnt[t + 1] + 1
    local r0, c0 = math.floor(i / L), i % L
    if px[st * N + r0 * L + (c0 + 1) % L] == t then same = same + 1 end
  end
  PZ = PZ + w
  pmag = pmag + w * (3 * math.max(cnt[1], cnt[2], cnt[3]) / N - 1) / 2
  pc = pc + w * (same / N - 1 / 3)
end
local prow = ev.exact_row(pm, 0.5)
close(prow.mag, pmag / PZ, 1e-12, "Potts exact Mag.")
close(prow.corr1, pc / PZ, 1e-12, "Potts exact Corr.")

-- the table prints itself
local t = ev.table{ { name = "est", mag = r.mag, corr1 = r.corr1, js = r.js }, row }
local text = tostring(t)
assert(text:find("method") and text:find("exact") and text:find(string.format("%.4f", row.mag), 1, true), text)
assert(ev.summary_table{ row } == tostring(ev.table{ row }))
print("tp.evaluate: exact rows and estimates match brute force")

-- an MC run's samples: WT-MetaD frozen-bias samples (logw = beta V) measured
-- against the exact marginal
local b4 = tp.bias.grid{ cv = m, points = N + 1, sigma = 0.15, height = 0.5, beta = beta }
local run = tp.mc.metad{ model = model, cv = m, bias = b4, beta = beta, chains = 32, pace = 8, cycles = 200, seed = 2,
  progress = false }
local fr = run:frozen{ samples = 100 }
local rf = ev.samples(fr, { model = model, beta = beta, cv = m, reference = ex, observables = { "energy", "abs_m" },
  bootstrap = 50, seed = 3 })
assert(rf.weighting == "given" and rf.n == fr.n)
assert(math.abs(rf.est.abs_m.value - am / Z) < 5 * rf.est.abs_m.err + 1e-3,
  string.format("frozen-bias E|m| %.4f +- %.4f, exact %.4f", rf.est.abs_m.value, rf.est.abs_m.err, am / Z))
assert(rf.js < 0.05, "JS of the reweighted MC histogram " .. rf.js)
