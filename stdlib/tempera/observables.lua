-- tempera.observables: error bars and observables for Monte Carlo output
-- (runtime/observables.c, man tempera-mc(5)).
--   tp.observables.stats(x, B, T)   x: double* (B chains, T samples) or a Lua list (one chain)
--        -> { mean, err, tau, var, err_blocking, err_chains, n, window }
--   tp.observables.corr(lat, x, B, { kind = "ising"|"potts", q =, rmax =, weights = })
--        -> Lua list c[r+1], r = 0..rmax
--   tp.observables.histogram(v, N, { lo =, hi =, bins =, weights = }) -> list, nout
--   tp.observables.pmf_rmse(a, b, n) -> RMSE after aligning minima
--   tp.observables.format(s [, digits]) -> "mean +- err"
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}

local function as_array(x, n)
  if type(x) == "cdata" then return x, n end
  util.check_arg(type(x) == "table", "expected a Lua list or a double*")
  n = #x
  local a = ffi.new("double[?]", n)
  for i = 1, n do a[i - 1] = x[i] end
  return a, n
end

function M.stats(x, B, T)
  local a
  if type(x) == "table" then
    a, T = as_array(x)
    B = 1
  else
    a = x
    util.check_arg(B and T, "stats: with a double* give B (chains) and T (samples per chain)")
    util.check_arg(type(B) == "number" and type(T) == "number" and B >= 1 and T >= 1 and B == math.floor(B)
      and T == math.floor(T), "stats: B (chains) and T (samples per chain) must be whole numbers >= 1")
    util.check_count("stats", "the series", a, B * T, 8)
  end
  local s = ffi.new("tp_obs_stats")
  util.check(C.tp_obs_series(s, a, B, T))
  local r = { mean = s.mean, err = s.err, tau = s.tau, var = s.var, err_blocking = s.err_blocking,
    err_chains = s.err_chains, n = tonumber(s.n), window = s.window, B = B, T = T }
  r.warnings = M.trust(r)
  return r
end

-- When an error bar cannot be trusted: a list of reasons, or nil.
--  * each chain ran fewer than MIN_TAU autocorrelation times (tau_int and
--    the error bar are themselves uncertain, and the chains may not have
--    forgotten their start);
--  * the chain means scatter more than their quoted error allows (err_chains,
--    the spread of B >= 4 chain means, above CHAIN_RATIO times err): the
--    chains sample different regions (slow mixing, metastability), and the
--    honest error is at least err_chains.
M.MIN_TAU, M.CHAIN_RATIO = 50, 2
function M.trust(s)
  local w = {}
  local T = s.T or s.n
  if s.tau and s.tau > 0 and T and T < M.MIN_TAU * s.tau then
    w[#w + 1] = string.format("each chain is %d samples long, %.0f autocorrelation times (tau_int %.3g): about %d "
      .. "are needed for a trustworthy error bar", T, T / s.tau, s.tau, M.MIN_TAU)
  end
  if s.B and s.B >= 4 and s.err_chains == s.err_chains and s.err > 0 and s.err_chains > M.CHAIN_RATIO * s.err then
    w[#w + 1] = string.format("the %d chains' means scatter %.1fx the quoted error (%.3g against %.3g): the chains "
      .. "disagree, so take the error as at least %.3g", s.B, s.err_chains / s.err, s.err_chains, s.err, s.err_chains)
  end
  return #w > 0 and w or nil
end

function M.tau_int(x, T)
  local a, n = as_array(x, T)
  local t = ffi.new("double[1]")
  util.check(C.tp_obs_tau_int(t, a, n))
  return t[0]
end

function M.blocking(x, T)
  local a, n = as_array(x, T)
  local e = ffi.new("double[1]")
  util.check(C.tp_obs_blocking(e, a, n))
  return e[0]
end

-- the (weighted) average over the B configurations of corr_rows: the
-- per-configuration correlations in C, the weighted mean by tp.analysis's
-- statistics kernel (the one weighted-statistics family)
local function log_weights(fname, w, n)
  if w == nil then return nil end
  util.check_count(fname, "weights", w, n, 8)
  local lw = ffi.new("double[?]", n)
  for i = 0, n - 1 do
    util.check_arg(w[i] >= 0, "%s: weights must be >= 0 (weight %d is %g)", fname, i, w[i])
    lw[i] = math.log(w[i])
  end
  return lw
end

function M.corr(lat, x, B, o)
  o = util.options("tp.observables.corr", o, {
    kind = { type = "string", default = "ising" }, q = { type = "integer", default = 2 },
    rmax = { type = "integer" }, weights = { type = "cdata" },
  })
  util.check_arg(o.kind == "ising" or o.kind == "potts", "tp.observables.corr: kind must be 'ising' or 'potts'")
  local rmax = o.rmax or math.floor(lat.size[0] / 2)
  local rows = M.corr_rows(lat, x, B, { kind = o.kind, q = o.q, rmax = rmax })
  local lw = log_weights("tp.observables.corr", o.weights, B)
  local A = require "tempera.analysis"
  local t = {}
  for r = 0, rmax do
    local st = A.stats()
    st:add(rows + r, lw, B, rmax + 1)
    t[r + 1] = st:summary().mean
  end
  return t
end

-- per configuration: double* (B, rmax + 1)
function M.corr_rows(lat, x, B, o)
  o = util.options("tp.observables.corr_rows", o, {
    kind = { type = "string", default = "ising" }, q = { type = "integer", default = 2 },
    rmax = { type = "integer" }, out = { type = "cdata" },
  })
  util.check_arg(o.kind == "ising" or o.kind == "potts", "tp.observables.corr_rows: kind must be 'ising' or 'potts'")
  local rmax = o.rmax or math.floor(lat.size[0] / 2)
  local out = o.out or ffi.new("double[?]", B * (rmax + 1))
  util.check(C.tp_obs_corr_rows(out, lat, x, B, o.kind == "ising" and 0 or 1, o.q, rmax))
  return out
end

function M.histogram(v, N, o)
  o = util.options("tp.observables.histogram", o, {
    lo = { type = "number", required = true }, hi = { type = "number", required = true },
    bins = { type = "integer", required = true }, weights = { type = "cdata" },
  })
  local a, n = as_array(v, N)
  -- the reweighting kernel's histogram (log-weights; value hi in the last bin)
  local h, shift = ffi.new("double[?]", o.bins), ffi.new("double[1]", -math.huge)
  util.check(C.tp_rw_hist1d_cpu(h, shift, a, log_weights("tp.observables.histogram", o.weights, n), o.lo, o.hi,
    o.bins, 1, n))
  local scale = shift[0] > -math.huge and math.exp(shift[0]) or 0
  local t, inside = {}, 0
  for k = 0, o.bins - 1 do t[k + 1] = h[k] * scale end
  for i = 0, n - 1 do if a[i] >= o.lo and a[i] <= o.hi then inside = inside + 1 end end
  return t, n - inside
end

function M.pmf_rmse(a, b, n)
  local x, nx = as_array(a, n)
  local y, ny = as_array(b, n)
  util.check_arg(nx == ny, "pmf_rmse: lengths differ (%d, %d)", nx, ny)
  local r = ffi.new("double[1]")
  util.check(C.tp_rw_pmf_rmse(r, nil, x, y, nx))
  return r[0]
end

-- counts = tp.observables.token_counts(x, n, sites, q): int32_t (n, q), how
-- many sites of each of the n configurations x (uint8_t (n, sites)) hold
-- each state 0..q-1
function M.token_counts(x, n, sites, q)
  util.check_arg(type(x) == "cdata" and type(n) == "number" and type(sites) == "number" and type(q) == "number",
    "token_counts(x, n, sites, q): x must be a uint8_t array of n configurations")
  local out = ffi.new("int32_t[?]", math.max(1, n * q))
  util.check(C.tp_obs_token_counts(out, x, n, sites, q))
  return out
end

-- "mean +- err" with the error rounded to 2 significant digits and the mean
-- to the same decimal place
function M.format(s, digits)
  local err = s.err or 0
  if err <= 0 or err ~= err then return string.format("%." .. (digits or 6) .. "f", s.mean) end
  local d = math.max(0, 1 - math.floor(math.log10(err)))
  if digits then d = digits end
  return string.format("%." .. d .. "f +- %." .. d .. "f", s.mean, err)
end

util.doc(M.stats, [[
tp.observables.stats(x, B, T) -> { mean, err, tau, var, err_blocking, err_chains, n, warnings }
  warnings: nil, or why the error bar cannot be trusted (chains shorter than
  50 tau_int; chain means scattering more than 2x the quoted error).
  x: double* of B chains x T samples (row-major) or a Lua list.  err =
  sqrt(var * 2 tau / N) with tau_int pooled over chains (Sokal window, c = 5);
  err_blocking: Flyvbjerg-Petersen; err_chains: spread of chain means.]])
util.doc(M, [[
tempera.observables -- stats (tau_int, blocking), corr, histogram, pmf_rmse, token_counts, format.  man tempera-mc.]])

return M
