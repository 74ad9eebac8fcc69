-- tempera.analysis: reweighting and metrics over arrays, dumps and live
-- runs (man tempera-analysis(5)).  Thin wrappers over
-- kernels/reweight.h: every loop over samples runs in C.
--
--   local A = tp.analysis
--   local st = A.stats{ bootstrap = 200 }        -- weighted moments, streaming
--   st:add(energy, logw, n)                      -- any number of times
--   local s = st:summary()                       -- n, ness, ess, log_z, mean, var, err
--   local h = A.hist{ range = { -1, 1 }, bins = 64 }
--   h:add(m, logw, n); local F, dF = h:pmf(kT)
--   local r = A.dump("run.tpd", { logw = "logw", stats = { "energy" },
--                                 hist = { cv = { range = { -1, 1 }, bins = 33 } } })
--
-- Arrays are FFI double arrays (0-based; give n) or Lua lists.  logw nil
-- means unit weights.  Wrong arguments raise at the recipe's line; a dump
-- that cannot be opened makes A.dump return nil, msg.
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}

local dptr = ffi.typeof("const double *")
local u8ptr = ffi.typeof("const uint8_t *")
local dbuf = ffi.typeof("double[?]")

-- (pointer, n, anchor) for an FFI array or a Lua list of numbers.
local function doubles(x, n, what)
  if n ~= nil and (type(n) ~= "number" or n < 0 or n ~= math.floor(n)) then
    util.raise("%s: the count must be a whole number >= 0, got %s", what, tostring(n))
  end
  if x == nil then return nil, n end
  if type(x) == "table" then
    local m = n or #x
    local a = dbuf(math.max(m, 1))
    for i = 1, m do
      local v = x[i]
      if type(v) ~= "number" then util.raise("%s: element %d is %s, not a number", what, i, type(v)) end
      a[i - 1] = v
    end
    return a, m, a
  end
  if type(x) == "cdata" then
    local ts = tostring(ffi.typeof(x))
    if not ts:match("^ctype<[%w ]-double[ %*%[&]") then
      util.raise("%s: expected doubles, got %s", what, ts)
    end
    if n == nil then
      if not ts:find("%[") then util.raise("%s: give n with an FFI pointer", what) end
      n = ffi.sizeof(x) / 8
    end
    util.check_count(what, "the array", x, n, 8)
    return ffi.cast(dptr, x), n, x
  end
  util.raise("%s: expected an FFI double array or a list of numbers, got %s", what, type(x))
end

local function bytes(x, n, what)
  if type(x) == "cdata" then
    if n then util.check_count(what, "the configuration array", x, n, 1) end
    return ffi.cast(u8ptr, x)
  end
  if type(x) == "table" then
    if n and #x < n then util.raise("%s: the list holds %d values, %s needed", what, #x, tostring(n)) end
    local a = ffi.new("uint8_t[?]", math.max(#x, 1))
    for i = 1, #x do a[i - 1] = x[i] end
    return a
  end
  util.raise("%s: expected an FFI uint8_t array or a list, got %s", what, type(x))
end

local function to_list(a, n)
  local t = {}
  for i = 0, n - 1 do t[i + 1] = a[i] end
  return t
end
M.to_list = to_list

-- 'cpu' (default) or 'cuda'; asking for 'cuda' without a device is an
-- error at the recipe's line (not a silent fall back to the CPU).
local function backend_of(fname, b)
  b = b or M.default_backend or "cpu"
  if b ~= "cpu" and b ~= "cuda" then util.raise("%s: backend must be 'cpu' or 'cuda', got '%s'", fname, tostring(b)) end
  if b == "cuda" and C.tp_cuda_device_count() <= 0 then
    util.raise("%s: backend 'cuda' needs a CUDA device, but %s; use backend = 'cpu'", fname,
      C.tp_cuda_compiled() ~= 0 and "none was found" or "tempera was built without CUDA (HAVE_CUDA=0)")
  end
  return b
end

-- C names of the CPU kernels that carry no _cpu suffix
local CPU_NAME = { pmf_boot_err = "tp_rw_pmf_boot_err", pmf_from_bias = "tp_rw_pmf_from_bias",
  pmf_rmse = "tp_rw_pmf_rmse", js = "tp_rw_js" }

-- kernel by backend: kernel("cpu", "hist1d") -> C.tp_rw_hist1d_cpu, ("cuda", ...) -> C.tp_rw_hist1d_cuda
local function kernel(backend, name)
  if backend == "cpu" and CPU_NAME[name] then return C[CPU_NAME[name]] end
  return C["tp_rw_" .. name .. "_" .. backend]
end

-- backend of a one-shot function's trailing options ({ backend = } or nil)
local function opt_backend(fname, o)
  if o == nil then return backend_of(fname, nil) end
  util.check_arg(type(o) == "table", "%s: the last argument is an options table { backend = 'cpu' | 'cuda' }", fname)
  return backend_of(fname, o.backend)
end

local function call(backend, name, ...)
  local f = kernel(backend, name)
  if backend == "cuda" then
    local n = select("#", ...)
    local args = { ... }
    util.check(f(unpack(args, 1, n + 1)))   -- trailing nil: the stream
  else
    util.check(f(...))
  end
end

-- ---- one-shot functions over arrays ----------------------------------------

-- A.logsumexp(logw [, n]) -> log sum exp(logw)
function M.logsumexp(logw, n)
  local p, m = doubles(logw, n, "analysis.logsumexp")
  local out = ffi.new("double[1]")
  util.check(C.tp_rw_logsumexp_cpu(out, p, m))
  return out[0]
end

-- A.normalize(logw [, n]) -> FFI double array of normalised weights, n
function M.normalize(logw, n)
  local p, m = doubles(logw, n, "analysis.normalize")
  local w = dbuf(math.max(m, 1))
  util.check(C.tp_rw_normalize_cpu(w, p, m))
  return w, m
end

-- A.weights(logw [, n]) -> summary table { n, ness, ess, log_z } of the weights alone
function M.weights(logw, n)
  local st = M.stats()
  st:add(nil, logw, n)
  return st:summary()
end

function M.ness(logw, n) return M.weights(logw, n).ness end
function M.log_z(logw, n) return M.weights(logw, n).log_z end

-- A.js(p, q [, n] [, { backend = }]) -> Jensen-Shannon divergence (natural log) between histograms
function M.js(p, q, n, o)
  if type(n) == "table" then n, o = nil, n end
  local backend = opt_backend("analysis.js", o)
  if type(p) == "table" and getmetatable(p) and p.counts then p = p:counts() end
  if type(q) == "table" and getmetatable(q) and q.counts then q = q:counts() end
  local a, na = doubles(p, n, "analysis.js")
  local b, nb = doubles(q, n, "analysis.js")
  util.check_arg(na == nb, "analysis.js: histograms have %d and %d bins", na, nb)
  local out = ffi.new("double[1]")
  call(backend, "js", out, a, b, na)
  return out[0]
end

-- A.pmf(hist, kT [, n] [, { backend = }]) -> list F (min 0, +inf for empty bins)
function M.pmf(hist, kT, n, o)
  if type(n) == "table" then n, o = nil, n end
  local backend = opt_backend("analysis.pmf", o)
  util.check_arg(type(kT) == "number" and kT > 0, "analysis.pmf: kT must be a positive number")
  local a, m = doubles(hist, n, "analysis.pmf")
  local out = dbuf(m)
  call(backend, "pmf", out, a, kT, m)
  return to_list(out, m)
end

-- A.pmf_from_bias(bias_or_V, gamma [, n] [, { backend = }]) -> list F =
-- -gamma/(gamma-1) V, min 0.  A tp.bias object (or its C handle) gives its
-- own grid and bias factor (and its own CPU code).
function M.pmf_from_bias(b, gamma, n, o)
  if type(n) ~= "number" then n, o = nil, n end   -- (V, gamma [, n] [, opts])
  if type(b) == "table" and (b.pmf or b._b or b.handle) then
    local h = b._b or b.handle or b.h
    if h ~= nil and type(h) == "cdata" then b = h end
  end
  if type(b) == "cdata" and ffi.istype("tp_bias *", b) then
    local n = tonumber(C.tp_bias_size(b))
    local out = dbuf(n)
    util.check(C.tp_bias_pmf(b, out))
    return to_list(out, n)
  end
  util.check_arg(type(gamma) == "number", "analysis.pmf_from_bias: give V values and gamma")
  local a, m = doubles(b, n, "analysis.pmf_from_bias")
  local out = dbuf(m)
  call(opt_backend("analysis.pmf_from_bias", o), "pmf_from_bias", out, a, gamma, m)
  return to_list(out, m)
end

-- A.pmf_rmse(F1, F2 [, { backend = }]) -> RMSE after aligning minima, bins compared
function M.pmf_rmse(F1, F2, o)
  local backend = opt_backend("analysis.pmf_rmse", o)
  local a, na = doubles(F1, nil, "analysis.pmf_rmse")
  local b, nb = doubles(F2, nil, "analysis.pmf_rmse")
  util.check_arg(na == nb, "analysis.pmf_rmse: PMFs have %d and %d points", na, nb)
  local out, used = ffi.new("double[1]"), ffi.new("int64_t[1]")
  call(backend, "pmf_rmse", out, used, a, b, na)
  return out[0], tonumber(used[0])
end

-- Heat capacity per site from a summary of weighted energies:
-- C = beta^2 var(E) / N; with bootstrap errors, also dC.
function M.heat_capacity(s, beta, N)
  util.check_arg(type(s) == "table" and s.var, "analysis.heat_capacity: expects a stats summary")
  local c = beta * beta * s.var / N
  local dc = s.err and s.err.var and beta * beta * s.err.var / N or nil
  return c, dc
end

-- Free energy F = -log(Z-hat) / beta from a summary (and its error).
function M.free_energy(s, beta)
  util.check_arg(type(s) == "table" and s.log_z, "analysis.free_energy: expects a stats summary")
  return -s.log_z / beta, s.err and s.err.log_z and s.err.log_z / beta or nil
end

-- ---- streaming accumulators --------------------------------------------------

local Stats = {}
Stats.__index = Stats

local stats_spec = {
  backend = { type = "string", doc = "'cpu' (default) or 'cuda'" },
  bootstrap = { type = "integer", default = 0, check = function(v) return v == 0 or (v >= 2 and v <= 100000), "must be 0 or 2..100000" end },
  seed = { type = "integer", default = 1 },
  block = { type = "integer", default = 1, check = function(v) return v >= 1, "must be >= 1" end },
}

-- A.stats{ backend=, bootstrap=R, seed=, block= } -> accumulator of
-- weighted moments of one quantity (and of the weights).
function M.stats(opts)
  local o = util.options("analysis.stats", opts, stats_spec)
  local self = setmetatable({ backend = backend_of("analysis.stats", o.backend), R = o.bootstrap,
    seed = o.seed, block = o.block, count = 0 }, Stats)
  self.acc = ffi.new("double[?]", C.TP_RW_NACC)
  self.shift = ffi.new("double[1]", -math.huge)
  if self.R > 0 then
    self.bacc = ffi.new("double[?]", self.R * C.TP_RW_NACC)
    self.bshift = ffi.new("double[1]", -math.huge)
  end
  return self
end

-- st:add(x, logw, n [, stride]): x (may be nil: weights only), logw (nil: unit)
function Stats:add(x, logw, n, stride)
  local px, nx = doubles(x, n, "stats:add")
  local pw, nw = doubles(logw, n or nx, "stats:add")
  n = n or nx or nw
  util.check_arg(type(n) == "number", "stats:add: give n (or a list)")
  stride = stride or 1
  call(self.backend, "moments", self.acc, self.shift, px, pw, stride, n)
  if self.R > 0 then
    call(self.backend, "moments_boot", self.bacc, self.bshift, px, pw, self.seed, self.count, self.block, stride, self.R, n)
  end
  self.count = self.count + n
  return self
end

local SUMMARY = { "n", "ness", "log_z", "mean", "var", "ess" }

-- st:summary() -> { n, ness, ess, log_z, mean, var, sd, err = {...} (bootstrap) }
function Stats:summary()
  local out = ffi.new("double[?]", C.TP_RW_NSUMMARY)
  util.check(C.tp_rw_summary(out, self.acc, self.shift[0]))
  local s = {}
  for i, k in ipairs(SUMMARY) do s[k] = out[i - 1] end
  s.sd = s.var == s.var and math.sqrt(s.var) or s.var
  if self.R > 0 and self.count > 0 then
    util.check(C.tp_rw_boot_err(out, self.bacc, self.bshift[0], self.R))
    s.err = {}
    for i, k in ipairs(SUMMARY) do s.err[k] = out[i - 1] end
    s.err.n = nil
  end
  return s
end
Stats.__tostring = function(st)
  local s = st:summary()
  return string.format("analysis.stats(n=%d, ness=%.4g, mean=%.6g, var=%.6g)", s.n, s.ness, s.mean, s.var)
end

-- A.mean(x, logw, n [, { bootstrap = 200, seed = 1, block =, backend = }])
-- -> weighted mean of x and its bootstrap standard error (nil with
-- bootstrap = 0): A.stats in one call
function M.mean(x, logw, n, o)
  o = o or {}
  util.check_arg(type(o) == "table", "analysis.mean: the last argument is an options table")
  local st = M.stats{ bootstrap = o.bootstrap == nil and 200 or o.bootstrap, seed = o.seed, block = o.block,
    backend = o.backend }
  st:add(x, logw, n)
  local s = st:summary()
  return s.mean, s.err and s.err.mean
end

-- ---- histograms ----------------------------------------------------------------

local Hist = {}
Hist.__index = Hist

local hist_spec = {
  range = { type = "table", doc = "{lo, hi}: bin edges (or bin centres with step)" },
  bins = { type = "integer", check = function(v) return v >= 1, "must be >= 1" end },
  step = { type = "number", check = function(v) return v > 0, "must be > 0" end,
           doc = "one bin per value lo, lo+step, ..., hi (range gives the first and last values)" },
  backend = { type = "string" },
  bootstrap = stats_spec.bootstrap, seed = stats_spec.seed, block = stats_spec.block,
  name = { type = "string", default = "x" },
}

-- A.hist{ range = {lo, hi}, bins = n } or A.hist{ range = {first, last}, step = d }
-- (one bin per possible value) [, bootstrap = R, seed =, block =]
function M.hist(opts)
  local o = util.options("analysis.hist", opts, hist_spec)
  util.check_arg(o.range and type(o.range[1]) == "number" and type(o.range[2]) == "number" and o.range[2] > o.range[1],
    "analysis.hist: range = {lo, hi} with lo < hi is required")
  local lo, hi, bins = o.range[1], o.range[2], o.bins
  if o.step then
    util.check_arg(bins == nil, "analysis.hist: give bins or step, not both")
    bins = math.floor((hi - lo) / o.step + 0.5) + 1
    lo, hi = lo - o.step / 2, hi + o.step / 2
  end
  util.check_arg(bins, "analysis.hist: bins (or step) is required")
  local self = setmetatable({ lo = lo, hi = hi, bins = bins, name = o.name, R = o.bootstrap, seed = o.seed,
    block = o.block, count = 0, backend = backend_of("analysis.hist", o.backend) }, Hist)
  self.h = dbuf(bins)
  self.shift = ffi.new("double[1]", -math.huge)
  if self.R > 0 then
    self.bh = dbuf(self.R * bins)
    self.bshift = ffi.new("double[1]", -math.huge)
  end
  return self
end

-- h:add(x, logw, n [, stride])
function Hist:add(x, logw, n, stride)
  local px, nx = doubles(x, n, "hist:add")
  util.check_arg(px ~= nil, "hist:add: x is required")
  local pw = doubles(logw, n or nx, "hist:add")
  n = n or nx
  stride = stride or 1
  call(self.backend, "hist1d", self.h, self.shift, px, pw, self.lo, self.hi, self.bins, stride, n)
  if self.R > 0 then
    call(self.backend, "hist1d_boot", self.bh, self.bshift, px, pw, self.lo, self.hi, self.seed, self.count,
      self.block, self.bins, stride, self.R, n)
  end
  self.count = self.count + n
  return self
end

-- bin centres (list)
function Hist:centers()
  local t, d = {}, (self.hi - self.lo) / self.bins
  for i = 1, self.bins do t[i] = self.lo + (i - 0.5) * d end
  return t
end

-- normalised weights per bin (list summing to 1; zeros if empty)
function Hist:counts()
  local t, s = to_list(self.h, self.bins), 0
  for i = 1, #t do s = s + t[i] end
  if s > 0 then for i = 1, #t do t[i] = t[i] / s end end
  return t
end

-- probability density per bin (counts / bin width)
function Hist:density()
  local t, d = self:counts(), (self.hi - self.lo) / self.bins
  for i = 1, #t do t[i] = t[i] / d end
  return t
end

-- h:pmf(kT) -> F (list, min 0, inf for empty bins), dF (bootstrap errors or nil)
function Hist:pmf(kT)
  util.check_arg(type(kT) == "number" and kT > 0, "hist:pmf: kT must be a positive number")
  local out = dbuf(self.bins)
  call(self.backend, "pmf", out, self.h, kT, self.bins)
  local Fv, dF = to_list(out, self.bins), nil
  if self.R > 0 then
    call(self.backend, "pmf_boot_err", out, self.bh, kT, self.R, self.bins)
    dF = to_list(out, self.bins)
  end
  return Fv, dF
end
-- h:plot{...} -> a quick text plot of the normalised histogram (REPL)
function Hist:plot(o)
  o = o or {}
  return require("tempera.plot").terminal{ x = self:centers(), y = self:counts(), title = o.title or self.name,
    style = o.style or "histeps", width = o.width, height = o.height, print = o.print }
end

-- number of bins holding weight
function Hist:nonempty()
  local c = 0
  for k = 0, self.bins - 1 do if self.h[k] > 0 then c = c + 1 end end
  return c
end

-- h:rebin(k) -> a new histogram with every k adjacent bins merged (bins
-- must be a multiple of k); bootstrap replicates are merged too.
function Hist:rebin(k)
  util.check_arg(type(k) == "number" and k >= 1 and self.bins % k == 0, "hist:rebin: bins (%d) must be a multiple of k", self.bins)
  local nb = self.bins / k
  local o = setmetatable({ lo = self.lo, hi = self.hi, bins = nb, name = self.name, R = self.R, seed = self.seed,
    block = self.block, count = self.count, backend = self.backend }, Hist)
  o.h, o.shift = dbuf(nb), ffi.new("double[1]", self.shift[0])
  for i = 0, self.bins - 1 do local j = math.floor(i / k); o.h[j] = o.h[j] + self.h[i] end
  if self.R > 0 then
    o.bh, o.bshift = dbuf(self.R * nb), ffi.new("double[1]", self.bshift[0])
    for r = 0, self.R - 1 do
      for i = 0, self.bins - 1 do
        local j = r * nb + math.floor(i / k)
        o.bh[j] = o.bh[j] + self.bh[r * self.bins + i]
      end
    end
  end
  return o
end

Hist.__tostring = function(h)
  return string.format("analysis.hist(%s: %d bins on [%g, %g], %d samples)", h.name, h.bins, h.lo, h.hi, h.count)
end

local Hist2 = {}
Hist2.__index = Hist2

-- A.hist2d{ range = {{xlo, xhi}, {ylo, yhi}}, bins = {nx, ny} }
function M.hist2d(opts)
  local o = util.options("analysis.hist2d", opts, {
    range = { type = "table", required = true }, bins = { type = "table", required = true },
    backend = { type = "string" }, name = { type = "string", default = "xy" } })
  local r, b = o.range, o.bins
  util.check_arg(type(r[1]) == "table" and type(r[2]) == "table" and r[1][2] > r[1][1] and r[2][2] > r[2][1],
    "analysis.hist2d: range = {{xlo, xhi}, {ylo, yhi}}")
  util.check_arg(type(b[1]) == "number" and type(b[2]) == "number" and b[1] >= 1 and b[2] >= 1,
    "analysis.hist2d: bins = {nx, ny}")
  local self = setmetatable({ xlo = r[1][1], xhi = r[1][2], ylo = r[2][1], yhi = r[2][2], nx = b[1], ny = b[2],
    name = o.name, count = 0, backend = backend_of("analysis.hist2d", o.backend) }, Hist2)
  self.h = dbuf(self.nx * self.ny)
  self.shift = ffi.new("double[1]", -math.huge)
  return self
end

-- h:add(xy, logw, n [, stride = 2]): xy holds (x, y) pairs
function Hist2:add(xy, logw, n, stride)
  stride = stride or 2
  local p, m = doubles(xy, n and n * stride, "hist2d:add")
  n = n or m / stride
  local pw = doubles(logw, n, "hist2d:add")
  call(self.backend, "hist2d", self.h, self.shift, p, pw, self.xlo, self.xhi, self.ylo, self.yhi,
    self.nx, self.ny, stride, n)
  self.count = self.count + n
  return self
end

-- normalised weights as rows: t[i][j] (x bin i, y bin j)
function Hist2:counts()
  local s = 0
  for k = 0, self.nx * self.ny - 1 do s = s + self.h[k] end
  local t = {}
  for i = 1, self.nx do
    local row = {}
    for j = 1, self.ny do row[j] = s > 0 and self.h[(i - 1) * self.ny + j - 1] / s or 0 end
    t[i] = row
  end
  return t
end

function Hist2:centers()
  local xs, ys = {}, {}
  for i = 1, self.nx do xs[i] = self.xlo + (i - 0.5) * (self.xhi - self.xlo) / self.nx end
  for j = 1, self.ny do ys[j] = self.ylo + (j - 0.5) * (self.yhi - self.ylo) / self.ny end
  return xs, ys
end

-- ---- two-point correlation ---------------------------------------------------

local Corr = {}
Corr.__index = Corr

-- A.corr{ L =, q = 2, rmax = L/2 } -> accumulator over L x L configurations
function M.corr(opts)
  local o = util.options("analysis.corr", opts, {
    L = { type = "integer", required = true }, q = { type = "integer", default = 2 },
    rmax = { type = "integer" }, backend = { type = "string" } })
  local rmax = o.rmax or math.floor(o.L / 2)
  util.check_arg(rmax >= 0 and rmax < o.L, "analysis.corr: rmax must be in 0..L-1")
  local self = setmetatable({ L = o.L, q = o.q, rmax = rmax, count = 0,
    backend = backend_of("analysis.corr", o.backend) }, Corr)
  self.acc = dbuf(rmax + 4)
  self.shift = ffi.new("double[1]", -math.huge)
  return self
end

-- c:add(configs, logw, n): configs = n * L * L tokens (uint8_t)
function Corr:add(x, logw, n)
  util.check_arg(type(n) == "number", "corr:add: give n")
  local px = bytes(x, n * self.L * self.L, "corr:add")
  local pw = doubles(logw, n, "corr:add")
  call(self.backend, "corr", self.acc, self.shift, px, pw, self.L, self.q, self.rmax, n)
  self.count = self.count + n
  return self
end

-- c:result() -> { r = {0..rmax}, g = {...}, connected = {...} (Ising),
--                 m = <m>, absm = <|m|> }
function Corr:result()
  local a, R = self.acc, self.rmax
  local sw = a[R + 1]
  util.check_arg(sw > 0, "corr:result: no samples (or all weights zero)")
  local t = { r = {}, g = {} }
  for r = 0, R do
    t.r[r + 1] = r
    t.g[r + 1] = a[r] / sw - (self.q > 2 and 1 / self.q or 0)
  end
  if self.q == 2 then
    t.m, t.absm = a[R + 2] / sw, a[R + 3] / sw
    t.connected = {}
    for r = 0, R do t.connected[r + 1] = t.g[r + 1] - t.m * t.m end
  end
  return t
end

-- ---- dumps ---------------------------------------------------------------------

-- A.dump(path_or_reader, spec) -> results, err.  Streams the dump chunk by
-- chunk into the accumulators spec asks for:
--   logw = "field" (log-weights; nil: unit weights), beta = b with
--     logw_scale = s (use s * field, e.g. beta * bias)
--   stats = { "energy", ... }            -> results.stats[name] = summary
--   hist = { name = { field =, component = 1, range =, bins = | step = } }
--   hist2d = { name = { field =, range =, bins = } }
--   corr = { field = "config", L =, q =, rmax = }
--   bootstrap = R, seed =, block =, backend =
-- results.weights = summary of the weights alone (n, ness, log_z).
-- err: nil, or the damage message when the dump is damaged (results then
-- cover every intact chunk).
function M.dump(src, spec)
  spec = spec or {}
  local d = src
  if type(src) == "string" then
    local err
    d, err = require("tempera.dump").read(src)
    if not d then return nil, err end
  end
  util.check_arg(type(d) == "table" and d.chunks, "analysis.dump: expects a path or a tp.dump reader")
  local R, seed, block, backend = spec.bootstrap or 0, spec.seed or 1, spec.block or 1, spec.backend
  local res = { n = 0, stats = {}, hist = {}, hist2d = {}, meta = d.meta }
  local W = M.stats{ backend = backend }
  local stats, hists, hists2 = {}, {}, {}
  for _, name in ipairs(spec.stats or {}) do
    local f = d:field(name)
    util.check_arg(f.type == "f64", "analysis.dump: field '%s' must be f64", name)
    stats[name] = M.stats{ backend = backend, bootstrap = R, seed = seed, block = block }
  end
  for name, h in pairs(spec.hist or {}) do
    local f = d:field(h.field or name)
    util.check_arg(f.type == "f64", "analysis.dump: field '%s' must be f64", f.name)
    hists[name] = { acc = M.hist{ range = h.range, bins = h.bins, step = h.step, backend = backend,
      bootstrap = R, seed = seed, block = block, name = name }, field = f.name, comp = (h.component or 1) - 1,
      width = f.width }
    util.check_arg(hists[name].comp < f.width, "analysis.dump: component out of range for '%s'", f.name)
  end
  for name, h in pairs(spec.hist2d or {}) do
    local f = d:field(h.field or name)
    util.check_arg(f.type == "f64" and f.width >= 2, "analysis.dump: field '%s' must be f64 with width >= 2", f.name)
    hists2[name] = { acc = M.hist2d{ range = h.range, bins = h.bins, backend = backend, name = name },
      field = f.name, width = f.width }
  end
  local corr
  if spec.corr then
    local f = d:field(spec.corr.field or "config")
    local L = spec.corr.L or (f.dims and f.dims[1]) or math.floor(math.sqrt(f.width) + 0.5)
    util.check_arg(L * L == f.width, "analysis.dump: corr needs an L x L configuration field")
    corr = { acc = M.corr{ L = L, q = spec.corr.q or f.states, rmax = spec.corr.rmax, backend = backend }, field = f.name }
  end
  local scale = spec.logw_scale
  d:rewind()
  local lwbuf
  for c in d:chunks() do
    local lw
    if spec.logw then
      lw = c:get(spec.logw)
      if scale and scale ~= 1 then
        lwbuf = (lwbuf and ffi.sizeof(lwbuf) >= c.n * 8) and lwbuf or dbuf(c.n)
        util.check(C.tp_rw_scale(lwbuf, lw, scale, c.n))
        lw = lwbuf
      end
    end
    W:add(nil, lw, c.n)
    for name, st in pairs(stats) do st:add(c:get(name), lw, c.n) end
    for _, h in pairs(hists) do
      local a = c:get(h.field)
      h.acc:add(ffi.cast(dptr, a) + h.comp, lw, c.n, h.width)
    end
    for _, h in pairs(hists2) do h.acc:add(c:get(h.field), lw, c.n, h.width) end
    if corr then corr.acc:add(c:get(corr.field), lw, c.n) end
    res.n = res.n + c.n
  end
  res.weights = W:summary()
  for name, st in pairs(stats) do res.stats[name] = st:summary(); res.stats[name].acc = st end
  for name, h in pairs(hists) do res.hist[name] = h.acc end
  for name, h in pairs(hists2) do res.hist2d[name] = h.acc end
  if corr then res.corr = corr.acc:result() end
  return res, d.error
end

util.doc(M, [[
tp.analysis -- reweighting and metrics (man tempera-analysis; the method: tempera-methods)
  A.stats{bootstrap=R, seed=, block=, backend=}  st:add(x, logw, n)  st:summary()
      -> { n, ness, ess, log_z, mean, var, sd, err = {mean, var, log_z, ness} }
  A.mean(x, logw, n [, {bootstrap=200, seed=, block=, backend=}]) -> mean, bootstrap err
  A.hist{range={lo,hi}, bins=n | step=d, bootstrap=R}  h:add(x, logw, n [, stride])
      h:counts() h:centers() h:density() h:pmf(kT) -> F, dF  h:rebin(k) h:nonempty() h:plot()
  A.hist2d{range={{xlo,xhi},{ylo,yhi}}, bins={nx,ny}}  h:add(xy, logw, n)  h:counts()
  A.corr{L=, q=2, rmax=}  c:add(configs, logw, n)  c:result() -> {r, g, connected, m, absm}
  A.dump(path, {logw=, stats={...}, hist={...}, hist2d={...}, corr={...}}) -> results, err
  A.logsumexp(logw)  A.normalize(logw)  A.weights(logw)  A.ness(logw)  A.log_z(logw)
  A.js(p, q)  A.pmf(hist, kT)  A.pmf_from_bias(bias | V, gamma)  A.pmf_rmse(F1, F2)
      (each takes a trailing { backend = 'cuda' }; accumulators take backend = too;
       A.default_backend = 'cuda' applies wherever none is given)
  A.heat_capacity(summary, beta, N)  A.free_energy(summary, beta)
Weights are exp(logw); logw = nil means unit weights.  Everything streams:
add chunk after chunk, results never need all samples in memory.]])

return M
