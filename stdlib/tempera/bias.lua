-- tempera.bias: the well-tempered metadynamics bias on a grid (runtime/bias.c,
-- man tempera-mc(5)).
--   local b = tp.bias.grid{ cv = m, range = {-1, 1}, points = 257, sigma = 0.05,
--                           height = 0.1667, bias_factor = 10, beta = 0.6 }
--   b:deposit(s [, B])      one cycle: B hills at s (a list, or double* (B, dim))
--   b:value(s1, s2, ...)    V at the nearest grid point (clamped)
--   b:index(s1, s2, ...)    1-based flat index of the nearest grid point
--   b:eval(s, B [, out])    batch V (counts out-of-grid points)
--   b:log_weights(s, B, beta)  reweighting log w = beta V
--   b:pmf()                 { grid = {axis values...}, F = {...} } F = -gamma/(gamma-1) V, min 0
--   b:values()              double* into the grid (size = b.size, last dimension fastest)
--   b:set{ height =, sigma =, bias_factor =, kernel =, out_of_grid = }
--   b:info(), b:save(path), tp.bias.load(path), b:clone(), b:reset()
-- kT (energy units) comes from kT = or beta = (kT = 1/beta).
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}

local Bias = {}
Bias.__index = Bias

local KERNEL = { gaussian = 0, delta = 1 }
local KERNEL_NAME = { [0] = "gaussian", [1] = "delta" }
local POLICY = { clamp = 0, skip = 1, error = 2 }
local POLICY_NAME = { [0] = "clamp", [1] = "skip", [2] = "error" }

local function per_dim(fname, name, v, dim)
  if type(v) == "number" then
    local t = {}
    for k = 1, dim do t[k] = v end
    return t
  end
  util.check_arg(type(v) == "table" and #v == dim, "%s: %s must be a number or a list of %d numbers", fname, name, dim)
  for k = 1, dim do util.check_arg(type(v[k]) == "number", "%s: %s[%d] must be a number", fname, name, k) end
  return v
end

local function wrap(c, dim)
  c = ffi.gc(util.check_ptr(c), C.tp_bias_free)
  local b = setmetatable({ c = c, dim = tonumber(C.tp_bias_dim(c)), size = tonumber(C.tp_bias_size(c)) }, Bias)
  b._s = ffi.new("double[?]", b.dim)
  b._info = ffi.new("tp_bias_info")
  return b
end

function M.grid(o)
  o = util.options("tp.bias.grid", o, {
    cv = { type = "table" }, range = { type = "table" }, points = { type = "any", required = true },
    sigma = { type = "any" }, height = { type = "number", required = true },
    bias_factor = { type = "number", default = 10 }, kT = { type = "number" }, beta = { type = "number" },
    kernel = { type = "string", default = "gaussian" }, out_of_grid = { type = "string", default = "clamp" },
    walls = { type = "any", default = "auto", doc = "'auto', 'none', 'reflect' or { {lo, hi}, ... } of booleans" },
  })
  local fname = "tp.bias.grid"
  local range = o.range or (o.cv and o.cv.range)
  util.check_arg(range ~= nil, "%s: give range = {lo, hi} (or {{lo, hi}, ...}) or a cv with a default range", fname)
  if type(range[1]) == "number" then range = { range } end
  local dim = #range
  util.check_arg(dim >= 1 and dim <= 8, "%s: 1..8 dimensions, got %d", fname, dim)
  if o.cv then
    util.check_arg(o.cv.dim == dim, "%s: cv '%s' has dimension %d but range has %d", fname, o.cv.name or "?", o.cv.dim, dim)
  end
  local lo, hi = ffi.new("double[?]", dim), ffi.new("double[?]", dim)
  for k = 1, dim do
    util.check_arg(type(range[k]) == "table" and type(range[k][1]) == "number" and type(range[k][2]) == "number",
      "%s: range[%d] must be {lo, hi}", fname, k)
    lo[k - 1], hi[k - 1] = range[k][1], range[k][2]
  end
  local pts = per_dim(fname, "points", o.points, dim)
  local p = ffi.new("int32_t[?]", dim)
  for k = 1, dim do
    util.check_arg(pts[k] == math.floor(pts[k]) and pts[k] >= 2, "%s: points[%d] must be an integer >= 2, got %s",
      fname, k, tostring(pts[k]))
    p[k - 1] = pts[k]
  end
  local kernel = KERNEL[o.kernel]
  util.check_arg(kernel, "%s: kernel must be 'gaussian' or 'delta', got '%s'", fname, o.kernel)
  local policy = POLICY[o.out_of_grid]
  util.check_arg(policy, "%s: out_of_grid must be 'clamp', 'skip' or 'error', got '%s'", fname, o.out_of_grid)
  local sg = nil
  if o.sigma ~= nil then
    local s = per_dim(fname, "sigma", o.sigma, dim)
    sg = ffi.new("double[?]", dim)
    for k = 1, dim do sg[k - 1] = s[k] end
  else
    util.check_arg(kernel == 1, "%s: the gaussian kernel needs sigma", fname)
  end
  local kT = o.kT
  if o.beta then
    util.check_arg(not kT, "%s: give kT or beta, not both", fname)
    util.check_arg(o.beta > 0, "%s: beta must be > 0, got %g", fname, o.beta)
    kT = 1 / o.beta
  end
  util.check_arg(kT ~= nil, "%s: give the temperature as kT = (energy units) or beta =", fname)
  local b = wrap(C.tp_bias_init(dim, lo, hi, p, sg, o.height, o.bias_factor, kT, kernel), dim)
  util.check(C.tp_bias_set_policy(b.c, policy))
  -- reflecting walls: 'auto' puts one at each end of the box that is a
  -- hard edge of the CV (the box reaches the CV's own bound)
  local wlo, whi = ffi.new("int32_t[?]", dim), ffi.new("int32_t[?]", dim)
  local w = o.walls
  if w == "auto" then
    local cv = o.cv
    if cv and cv.walls and cv.range then
      for k = 1, dim do
        local r, tol = cv.range[k], 1e-9 * (hi[k - 1] - lo[k - 1])
        wlo[k - 1] = r and lo[k - 1] <= r[1] + tol and 1 or 0
        whi[k - 1] = r and hi[k - 1] >= r[2] - tol and 1 or 0
      end
    end
  elseif w == "reflect" then
    for k = 0, dim - 1 do wlo[k], whi[k] = 1, 1 end
  elseif type(w) == "table" then
    for k = 1, dim do
      util.check_arg(type(w[k]) == "table", "%s: walls[%d] must be {lo_wall, hi_wall} (booleans)", fname, k)
      wlo[k - 1], whi[k - 1] = w[k][1] and 1 or 0, w[k][2] and 1 or 0
    end
  else
    util.check_arg(w == "none", "%s: walls must be 'auto', 'none', 'reflect' or { {lo, hi}, ... }, got %s", fname,
      tostring(w))
  end
  util.check(C.tp_bias_set_walls(b.c, wlo, whi))
  b.cv = o.cv
  return b
end

function M.load(path)
  util.check_arg(type(path) == "string", "tp.bias.load expects a path")
  return wrap(C.tp_bias_load(path))
end

function M.is_bias(b) return getmetatable(b) == Bias end

-- s: a list {s1, s2, ...} (one point) / list of lists, or double* (B, dim)
local function points(self, s, B)
  if type(s) == "cdata" then
    util.check_arg(type(B) == "number" and B >= 1 and B == math.floor(B), "bias: with a double* give the number of points B")
    util.check_count("bias", "the point array", s, B * self.dim, 8)
    return s, B
  end
  util.check_arg(type(s) == "table", "bias: expected a point {s1, ...}, a list of points or a double*")
  if type(s[1]) == "number" then
    util.check_arg(#s == self.dim, "bias: a point needs %d coordinates, got %d", self.dim, #s)
    local a = ffi.new("double[?]", self.dim)
    for k = 1, self.dim do a[k - 1] = s[k] end
    return a, 1
  end
  local n = #s
  util.check_arg(n >= 1, "bias: no points")
  local a = ffi.new("double[?]", n * self.dim)
  for i = 1, n do
    util.check_arg(type(s[i]) == "table" and #s[i] == self.dim, "bias: point %d needs %d coordinates", i, self.dim)
    for k = 1, self.dim do a[(i - 1) * self.dim + k - 1] = s[i][k] end
  end
  return a, n
end

-- bias:deposit(s, B [, logw]): one cycle of B hills; with logw (B log-weights)
-- the cycle's height W is shared out in proportion to exp(logw) (importance-
-- weighted deposition, tp_bias_deposit_weighted)
function Bias:deposit(s, B, logw)
  local a, n = points(self, s, B)
  if logw ~= nil then
    util.check_arg(type(logw) == "cdata", "bias:deposit: logw must be a double array of B log-weights")
    util.check_count("bias:deposit", "logw", logw, n, 8)
    util.check(C.tp_bias_deposit_weighted(self.c, a, logw, n))
  else
    util.check(C.tp_bias_deposit(self.c, a, n))
  end
  return self
end

function Bias:deposit_one(s, w)
  local a = points(self, s, 1)
  util.check(C.tp_bias_deposit_one(self.c, a, w))
  return self
end

function Bias:value(...)
  local s = self._s
  for k = 1, self.dim do
    local v = select(k, ...)
    util.check_arg(type(v) == "number", "bias:value: expects %d numbers (the CV values), argument %d is %s",
      self.dim, k, type(v))
    s[k - 1] = v
  end
  return C.tp_bias_value(self.c, s)
end

-- 1-based flat index of the nearest grid point (clamped) of (s1, s2, ...)
function Bias:index(...)
  local s = self._s
  for k = 1, self.dim do s[k - 1] = select(k, ...) end
  return tonumber(C.tp_bias_index(self.c, s)) + 1
end

function Bias:eval(s, B, out)
  local a, n = points(self, s, B)
  out = out or ffi.new("double[?]", n)
  util.check(C.tp_bias_eval(self.c, out, a, n))
  return out
end

function Bias:log_weights(s, B, beta, out)
  local a, n = points(self, s, B)
  out = out or ffi.new("double[?]", n)
  util.check(C.tp_bias_log_weights(self.c, out, a, n, beta))
  return out
end

function Bias:values() return C.tp_bias_values(self.c) end

-- coordinates of grid points along axis k (1-based): a Lua list
function Bias:axis(k)
  k = k or 1
  local i = self:info()
  util.check_arg(k >= 1 and k <= self.dim, "bias:axis: k must be in 1..%d", self.dim)
  local t = {}
  for j = 0, i.points[k] - 1 do
    t[j + 1] = j == i.points[k] - 1 and i.hi[k] or i.lo[k] + j * i.spacing[k]
  end
  return t
end

-- { F = double* (size), axes = { {...}, ... } }; F(min) = 0
function Bias:pmf(out)
  out = out or ffi.new("double[?]", self.size)
  util.check(C.tp_bias_pmf(self.c, out))
  local axes = {}
  for k = 1, self.dim do axes[k] = self:axis(k) end
  return out, axes
end

function Bias:info()
  local i = self._info
  util.check(C.tp_bias_get_info(self.c, i))
  local t = { dim = i.dim, kernel = KERNEL_NAME[i.kernel], out_of_grid = POLICY_NAME[i.policy],
    height = i.height, bias_factor = i.bias_factor, kT = i.kT, size = tonumber(i.size),
    nhills = tonumber(i.nhills), ncycles = tonumber(i.ncycles),
    out_deposit = tonumber(i.out_deposit), out_eval = tonumber(i.out_eval),
    points = {}, lo = {}, hi = {}, spacing = {}, sigma = {}, walls = {} }
  for k = 0, i.dim - 1 do
    t.points[k + 1], t.lo[k + 1], t.hi[k + 1] = i.points[k], i.lo[k], i.hi[k]
    t.spacing[k + 1], t.sigma[k + 1] = i.spacing[k], i.sigma[k]
    t.walls[k + 1] = { i.wall_lo[k] ~= 0, i.wall_hi[k] ~= 0 }
  end
  return t
end

function Bias:set(o)
  o = util.options("bias:set", o, {
    height = { type = "number" }, sigma = { type = "any" }, bias_factor = { type = "number" },
    kT = { type = "number" }, kernel = { type = "string" }, out_of_grid = { type = "string" },
  })
  if o.height then util.check(C.tp_bias_set_height(self.c, o.height)) end
  if o.sigma then
    local s = per_dim("bias:set", "sigma", o.sigma, self.dim)
    local a = ffi.new("double[?]", self.dim)
    for k = 1, self.dim do a[k - 1] = s[k] end
    util.check(C.tp_bias_set_sigma(self.c, a))
  end
  if o.bias_factor then util.check(C.tp_bias_set_bias_factor(self.c, o.bias_factor)) end
  if o.kT then util.check(C.tp_bias_set_kT(self.c, o.kT)) end
  if o.kernel then
    util.check_arg(KERNEL[o.kernel], "bias:set: kernel must be 'gaussian' or 'delta'")
    util.check(C.tp_bias_set_kernel(self.c, KERNEL[o.kernel]))
  end
  if o.out_of_grid then
    util.check_arg(POLICY[o.out_of_grid], "bias:set: out_of_grid must be 'clamp', 'skip' or 'error'")
    util.check(C.tp_bias_set_policy(self.c, POLICY[o.out_of_grid]))
  end
  return self
end

function Bias:save(path)
  util.check_arg(type(path) == "string", "bias:save expects a path")
  util.check(C.tp_bias_save(self.c, path))
end

function Bias:clone()
  local b = wrap(C.tp_bias_clone(self.c))
  b.cv = self.cv
  return b
end

function Bias:reset() C.tp_bias_reset(self.c); return self end

-- A line for stderr if CV points fell outside the grid ("" if none).
function Bias:out_of_grid_report()
  local i = self:info()
  if i.out_deposit == 0 and i.out_eval == 0 then return "" end
  return string.format("bias: %d deposit and %d evaluation points fell outside the grid (policy '%s')",
    i.out_deposit, i.out_eval, i.out_of_grid)
end

function Bias:free()
  ffi.gc(self.c, nil)
  C.tp_bias_free(self.c)
  self.c = nil
end

function Bias:__tostring()
  local i = self:info()
  local pts = {}
  for k = 1, i.dim do pts[k] = string.format("%d on [%g, %g]", i.points[k], i.lo[k], i.hi[k]) end
  return string.format("bias grid %s, %s, gamma %g, W %g, %d hills", table.concat(pts, " x "), i.kernel,
    i.bias_factor, i.height, i.nhills)
end

util.doc(M.grid, [[
tp.bias.grid{ cv = cv, range = {lo, hi} | {{lo, hi}, ...}, points = 257 | {17, 17},
              sigma = 0.05 | {...}, height = W, bias_factor = 10, beta = b | kT = t,
              kernel = "gaussian" | "delta", out_of_grid = "clamp" | "skip" | "error" }
  Well-tempered metadynamics bias on a regular grid.  Each
  cycle of B hills gives every hill height W/B * exp(-V(s*)/((gamma-1) kT)).
  gamma <= 1: plain metadynamics.  Methods: deposit, value, eval, pmf, values,
  axis, set, info, save, clone, reset, log_weights.  man tempera-mc.]])
util.doc(M.load, "tp.bias.load(path) -> bias saved with bias:save(path)")
util.doc(M, [[
tempera.bias -- metadynamics bias grids: tp.bias.grid{...}, tp.bias.load(path).  man tempera-mc; the method: man tempera-methods.]])

return M
