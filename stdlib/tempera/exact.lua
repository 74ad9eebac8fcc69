-- tempera.exact: exact enumeration of small systems (runtime/exact.c).
--   local r = tp.exact(model, beta [, { cv = cv, points = 17, range = {-1, 1} }])
--   r.log_z, r.free_energy (-log Z / beta), r.mean_e, r.var_e,
--   r.heat_capacity (beta^2 Var E / n), r.energy_per_site,
--   with a cv: r.grid[d] (grid values per dimension), r.marginal (probability
--   per grid point, last dimension fastest, 1-based), r.pmf (-log P / beta,
--   math.huge where P = 0).
-- beta may be a list: the result is then a list of such tables (one pass).
-- Built-in models and CVs run in C on all cores (q^n <= 2^26); a Lua model
-- or Lua CV is enumerated by a Gray-code loop here, driving the user's
-- functions from Lua (q^n <= 2^22).
local F = require "tempera.ffi"
local util = require "tempera.util"
local model_mod = require "tempera.model"
local cv_mod = require "tempera.cv"
local C, ffi = F.C, F.ffi

local LUA_MAX_STATES = 2 ^ 22

-- Lua driver: the same Gray-code walk and accumulators as runtime/exact.c
local function enumerate_lua(model, betas, cv, lo, hi, points, G, hist)
  local n, q, nb = model.n, model.q, #betas
  local total = q ^ n
  if total > LUA_MAX_STATES then
    util.raise("tp.exact: %d sites with %d states is more than 2^22 configurations for a Lua model or CV", n, q)
  end
  local x = ffi.new("uint8_t[?]", n)
  local cnt = ffi.new("int32_t[?]", n + 1)
  local dir = ffi.new("int8_t[?]", n + 1)
  for j = 0, n - 1 do dir[j] = 1 end
  local e = model:energy(x)
  if type(e) ~= "number" or e ~= e then util.raise("tp.exact: the energy of the all-zero configuration is %s", tostring(e)) end
  local eref = e
  local mx, s0, s1, s2 = {}, {}, {}, {}
  for b = 1, nb do mx[b], s0[b], s1[b], s2[b] = -betas[b] * 0, 0, 0, 0 end
  local dim = cv and cv.dim or 0
  local vals = {}
  for t = 0, total - 1 do
    local d = e - eref
    local gi = 0
    if cv then
      if dim == 1 then vals[1] = cv:value(x) else vals = { cv:value(x) } end
      for k = 1, dim do
        local v = vals[k]
        if type(v) ~= "number" or v ~= v then util.raise("cv %s returned %s for a configuration", cv.name, tostring(v)) end
        local ix = math.floor((v - lo[k - 1]) / (hi[k - 1] - lo[k - 1]) * (points[k - 1] - 1) + 0.5)
        if ix < 0 then ix = 0 elseif ix > points[k - 1] - 1 then ix = points[k - 1] - 1 end
        gi = gi * points[k - 1] + ix
      end
    end
    for b = 1, nb do
      local lw = -betas[b] * d
      if lw > mx[b] then
        local sc = math.exp(mx[b] - lw)
        s0[b], s1[b], s2[b] = s0[b] * sc, s1[b] * sc, s2[b] * sc
        if hist then for g = 0, G - 1 do hist[(b - 1) * G + g] = hist[(b - 1) * G + g] * sc end end
        mx[b] = lw
      end
      local w = math.exp(lw - mx[b])
      s0[b], s1[b], s2[b] = s0[b] + w, s1[b] + w * d, s2[b] + w * d * d
      if hist then hist[(b - 1) * G + gi] = hist[(b - 1) * G + gi] + w end
    end
    if t == total - 1 then break end
    if t % 65536 == 0 and C.tp_interrupted() ~= 0 then util.check(1) end
    local j = 0
    while cnt[j] == q - 1 do cnt[j] = 0; dir[j] = -dir[j]; j = j + 1 end
    cnt[j] = cnt[j] + 1
    local nw = x[j] + dir[j]
    local de = model:de(x, j, nw)
    if type(de) ~= "number" or de ~= de then util.raise("tp.exact: %s: dE returned %s", model.name, tostring(de)) end
    e = e + de
    x[j] = nw
  end
  local out = {}
  for b = 1, nb do
    local m1 = s1[b] / s0[b]
    out[b] = { log_z = -betas[b] * eref + mx[b] + math.log(s0[b]), mean_e = eref + m1,
      var_e = math.max(0, s2[b] / s0[b] - m1 * m1) }
    if hist then for g = 0, G - 1 do hist[(b - 1) * G + g] = hist[(b - 1) * G + g] / s0[b] end end
  end
  return out
end

local function exact(model, beta, opts)
  util.check_arg(model_mod.is_model(model), "tp.exact: first argument must be a tp.model, got %s", type(model))
  local betas = type(beta) == "table" and beta or { beta }
  util.check_arg(#betas >= 1, "tp.exact: need at least one beta")
  for b = 1, #betas do
    util.check_arg(type(betas[b]) == "number" and betas[b] == betas[b], "tp.exact: beta %d must be a number", b)
  end
  local o = util.options("tp.exact", opts, {
    cv = { type = "any" }, points = { type = "any" }, range = { type = "table" },
  })
  local cv = o.cv
  local dim, G = 0, 1
  local lo, hi, pts
  if cv ~= nil then
    util.check_arg(cv_mod.is_cv(cv), "tp.exact: option 'cv' must be a tp.cv")
    util.check_arg(cv.n == model.n, "tp.exact: the CV has %d sites, the model %d", cv.n, model.n)
    dim = cv.dim
    local range = o.range or cv.range
    util.check_arg(range ~= nil, "tp.exact: option 'range' is required for cv %s", cv.name)
    if type(range[1]) == "number" then range = { range } end
    if #range == 1 and dim > 1 then
      local r1 = range[1]
      range = {}
      for d = 1, dim do range[d] = r1 end
    end
    util.check_arg(#range == dim, "tp.exact: range needs {lo, hi} for each of the %d CV dimensions", dim)
    local points = o.points or 65
    if type(points) == "number" then
      local p = points
      points = {}
      for d = 1, dim do points[d] = p end
    end
    util.check_arg(#points == dim, "tp.exact: points needs one count per CV dimension (%d)", dim)
    lo, hi, pts = ffi.new("double[?]", dim), ffi.new("double[?]", dim), ffi.new("int32_t[?]", dim)
    for d = 1, dim do
      util.check_arg(type(points[d]) == "number" and points[d] >= 2 and points[d] == math.floor(points[d]),
        "tp.exact: points must be integers >= 2")
      util.check_arg(range[d][1] < range[d][2], "tp.exact: range %d must have lo < hi", d)
      lo[d - 1], hi[d - 1], pts[d - 1] = range[d][1], range[d][2], points[d]
      G = G * points[d]
    end
  end
  local nb = #betas
  local hist = cv and ffi.new("double[?]", nb * G) or nil
  local res
  if model.c ~= nil and (cv == nil or cv.c ~= nil) then
    local bt = ffi.new("double[?]", nb, betas)
    local lz, me, ve = ffi.new("double[?]", nb), ffi.new("double[?]", nb), ffi.new("double[?]", nb)
    if cv then util.check_arg(cv.q == model.q, "tp.exact: the CV is for q = %d, the model has q = %d", cv.q, model.q) end
    util.check(C.tp_exact_run(model.c, bt, nb, lz, me, ve, cv and cv.c or nil, lo, hi, pts, hist))
    res = {}
    for b = 1, nb do res[b] = { log_z = lz[b - 1], mean_e = me[b - 1], var_e = ve[b - 1] } end
  else
    res = enumerate_lua(model, betas, cv, lo, hi, pts, G, hist)
  end
  local n = model.n
  for b = 1, nb do
    local r, be = res[b], betas[b]
    r.beta = be
    r.free_energy = -r.log_z / be
    r.heat_capacity = be * be * r.var_e / n
    r.energy_per_site = r.mean_e / n
    if cv then
      r.grid, r.points, r.marginal, r.pmf = {}, {}, {}, {}
      for d = 1, dim do
        local g = {}
        for k = 0, pts[d - 1] - 1 do g[k + 1] = lo[d - 1] + (hi[d - 1] - lo[d - 1]) * k / (pts[d - 1] - 1) end
        r.grid[d], r.points[d] = g, pts[d - 1]
      end
      for g = 0, G - 1 do
        local p = hist[(b - 1) * G + g]
        r.marginal[g + 1] = p
        r.pmf[g + 1] = p > 0 and -math.log(p) / be or math.huge
      end
    end
  end
  if type(beta) == "table" then return res end
  return res[1]
end

local M = setmetatable({}, { __call = function(_, ...) return exact(...) end })
M.run = exact
-- number of configurations of a model (q^n)
function M.states(model) return model.q ^ model.n end

-- tp.exact.ising_m(model, beta) -> { log_z, free_energy, grid = { m values },
--   marginal = { P(m) }, pmf = { -log P / beta } } for an Ising model with
-- one coupling shell on an L x L square lattice, 3 <= L <= 10: the exact
-- distribution of the magnetisation per site m = M / L^2 by a transfer
-- matrix (enumeration stops at 5x5).  The grid has L^2 + 1 points on
-- [-1, 1]: a tp.bias.grid{ cv = magnetization, points = L^2 + 1 } lines up.
function M.ising_m(model, beta)
  util.check_arg(model_mod.is_model(model) and model.kind == "ising" and type(model.J) == "table" and #model.J == 1,
    "tp.exact.ising_m: expects an Ising model with one coupling shell, got %s", tostring(model))
  local lat = model.lattice
  local L = math.floor(math.sqrt(model.n) + 0.5)
  util.check_arg(lat and lat:kind_name() == "square" and L * L == model.n and lat.dim == 2,
    "tp.exact.ising_m: needs an L x L square lattice, got %s", tostring(lat))
  util.check_arg(L >= 3 and L <= 10, "tp.exact.ising_m: L must be 3..10, got %d", L)
  util.check_arg(type(beta) == "number" and beta >= 0, "tp.exact.ising_m: beta must be a number >= 0")
  local lz, p = ffi.new("double[1]"), ffi.new("double[?]", L * L + 1)
  util.check(C.tp_exact_ising_m(L, model.J[1], model.h or 0, beta, lz, p))
  local r = { beta = beta, log_z = lz[0], free_energy = -lz[0] / beta, grid = {}, marginal = {}, pmf = {},
    points = L * L + 1 }
  for k = 0, L * L do
    r.grid[k + 1] = (2 * k - L * L) / (L * L)
    r.marginal[k + 1] = p[k]
    r.pmf[k + 1] = p[k] > 0 and -math.log(p[k]) / beta or math.huge
  end
  return r
end

util.doc(M, [[
tp.exact(model, beta [, { cv = cv, points = 17, range = {lo, hi} }]) -> r
  Exact enumeration (q^n <= 2^26 in C, 2^22 for Lua models/CVs):
  r.log_z, r.free_energy, r.mean_e, r.var_e, r.heat_capacity (per site),
  r.energy_per_site; with a cv: r.grid, r.marginal, r.pmf (nearest grid
  point, last dimension fastest).  beta may be a list -> list of results.
tp.exact.ising_m(model, beta) -> { log_z, grid, marginal, pmf }: the exact P(m) of
  the L x L square Ising model (3 <= L <= 10) by a transfer matrix.]])

return M
