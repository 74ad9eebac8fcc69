-- tempera.model: energy models (runtime/model.c, runtime/model_ce.c).
--   tp.model.ising{ lattice = lat, J = 1, h = 0 }          J may be a list per shell
--   tp.model.potts{ lattice = lat, q = 3, J = 1, h = 0 }
--   tp.model.cluster_expansion{ lattice = lat, ce = "cuau" | "path.ce", h = 0 }
--   tp.model.lua{ lattice = lat, states = 2, energy = fn(x) [, de = fn(x, i, s)] }
-- Every model has the same methods; x is an FFI uint8_t* configuration
-- (lat:config()), sites and states 0-based:
--   m:energy(x)          total energy (fast path: tokens are not checked)
--   m:de(x, i, s)        E(x with x[i] = s) - E(x)
--   m:de_swap(x, i, j)   E(x with x[i], x[j] exchanged) - E(x)
--   m:energies(x, B [, out])  batch (B, n) -> double[B], checked
--   m.c                  the C tp_model* (nil for Lua models), m.q, m.n, m.lattice
local F = require "tempera.ffi"
local util = require "tempera.util"
local lattice = require "tempera.lattice"
local C, ffi = F.C, F.ffi

local M = {}
M.kB = 8.617330337217213e-5 -- eV/K (Boltzmann's constant; man tempera-models(5))

local Model = {}
Model.__index = Model

-- a site index and an array of at least B configurations, checked before C reads them
local function site(self, fname, i)
  util.check_arg(type(i) == "number" and i >= 0 and i < self.n and i == math.floor(i),
    "%s: site must be an integer in 0..%d, got %s", fname, self.n - 1, tostring(i))
end
local function configs(self, fname, x, B)
  util.check_arg(type(x) == "cdata", "%s: x must be an FFI array of tokens (uint8_t)", fname)
  util.check_arg(B == nil or (type(B) == "number" and B >= 1 and B == math.floor(B)),
    "%s: the number of configurations must be a whole number >= 1, got %s", fname, tostring(B))
  util.check_count(fname, "the configuration array", x, (B or 1) * self.n, 1)
end

function Model:energy(x)
  configs(self, "model:energy", x)
  return C.tp_model_energy(self.c, x)
end
function Model:de(x, i, s)
  configs(self, "model:de", x)
  site(self, "model:de", i)
  util.check_arg(type(s) == "number" and s >= 0 and s < self.q and s == math.floor(s),
    "model:de: state must be an integer in 0..%d, got %s", self.q - 1, tostring(s))
  return C.tp_model_de(self.c, x, i, s)
end
function Model:de_swap(x, i, j)
  configs(self, "model:de_swap", x)
  site(self, "model:de_swap", i)
  site(self, "model:de_swap", j)
  return C.tp_model_de_swap(self.c, x, i, j)
end

function Model:check(x, B)
  configs(self, "model:check", x, B)
  util.check(C.tp_model_check(self.c, x, B or 1))
end

function Model:energies(x, B, out)
  B = B or 1
  configs(self, "model:energies", x, B)
  util.check_count("model:energies", "out", out, B, 8)
  out = out or ffi.new("double[?]", B)
  util.check(C.tp_model_energy_batch(self.c, out, x, B))
  return out
end

function Model:__tostring()
  local lat = self.lattice
  if self.kind == "lua" then
    return string.format("model lua '%s' (q = %d) on %s", self.name, self.q, tostring(lat))
  end
  local J = {}
  for s = 1, #(self.J or {}) do J[s] = string.format("%g", self.J[s]) end
  if self.kind == "ce" then
    return string.format("model cluster expansion '%s' (%d clusters, h = %g) on %s", self.name,
      tonumber(C.tp_model_ce_ncluster(self.c)), self.h, tostring(lat))
  end
  return string.format("model %s (q = %d, J = {%s}, h = %g) on %s", self.kind, self.q, table.concat(J, ", "), self.h, tostring(lat))
end

-- CE only: correlation functions {name = cf, ...} and the ordered list
function Model:correlations(x)
  util.check_arg(self.kind == "ce", "correlations: not a cluster-expansion model")
  local k = tonumber(C.tp_model_ce_ncluster(self.c))
  local out = ffi.new("double[?]", k)
  util.check(C.tp_model_ce_correlations(self.c, out, x))
  local t = {}
  for a = 0, k - 1 do
    t[a + 1] = out[a]
    t[self.clusters[a + 1].name] = out[a]
  end
  return t
end

local function check_lattice(fname, lat)
  util.check_arg(lattice.is_lattice(lat), "%s: option 'lattice' must be a tp.lattice, got %s", fname, type(lat))
end

local function couplings(fname, J, lat)
  if type(J) == "number" then J = { J } end
  util.check_arg(type(J) == "table" and #J >= 1 and #J <= 8, "%s: J must be a number or a list of 1..8 numbers (one per shell)", fname)
  util.check_arg(#J <= lat.nshell, "%s: %d coupling shells but the lattice has %d neighbour shells (build it with shells = %d)",
    fname, #J, lat.nshell, #J)
  local arr = ffi.new("double[8]")
  for s = 1, #J do
    util.check_arg(type(J[s]) == "number", "%s: J[%d] must be a number", fname, s)
    arr[s - 1] = J[s]
  end
  return J, arr
end

local function new_builtin(kind, c, lat, extra)
  local m = setmetatable(extra or {}, Model)
  m.c = ffi.gc(util.check_ptr(c), C.tp_model_free)
  m.kind, m.q, m.n, m.lattice = kind, c.q, c.n, lat
  m.h = c.h
  return m
end

function M.ising(o)
  o = util.options("tp.model.ising", o, {
    lattice = { required = true }, J = { type = "any", default = 1 }, h = { type = "number", default = 0 },
  })
  check_lattice("tp.model.ising", o.lattice)
  local J, arr = couplings("tp.model.ising", o.J, o.lattice)
  return new_builtin("ising", C.tp_model_init_ising(o.lattice, #J, arr, o.h), o.lattice, { J = J, name = "ising" })
end

function M.potts(o)
  o = util.options("tp.model.potts", o, {
    lattice = { required = true }, q = { type = "integer", default = 3 },
    J = { type = "any", default = 1 }, h = { type = "number", default = 0 },
  })
  check_lattice("tp.model.potts", o.lattice)
  util.check_arg(o.q >= 2 and o.q <= 255, "tp.model.potts: q must be in 2..255, got %d", o.q)
  local J, arr = couplings("tp.model.potts", o.J, o.lattice)
  return new_builtin("potts", C.tp_model_init_potts(o.lattice, o.q, #J, arr, o.h), o.lattice, { J = J, name = "potts" })
end

-- Cluster-expansion data: "cuau" (shipped) or a file path.
local builtin_ce = { cuau = "tempera.data.cuau" }
function M.load_ce(name)
  util.check_arg(type(name) == "string", "load_ce: expected a name or a file path")
  local p
  if builtin_ce[name] then
    p = C.tp_ce_parse(require(builtin_ce[name]), name .. " (built-in)")
  else
    p = C.tp_ce_load(name)
  end
  return ffi.gc(util.check_ptr(p), C.tp_ce_free)
end

function M.cluster_expansion(o)
  if type(o) == "string" then util.raise("tp.model.cluster_expansion expects { lattice = lat, ce = %q }", o) end
  o = util.options("tp.model.cluster_expansion", o, {
    lattice = { required = true }, ce = { type = "any", default = "cuau" }, h = { type = "number", default = 0 },
  })
  check_lattice("tp.model.cluster_expansion", o.lattice)
  local ce = type(o.ce) == "string" and M.load_ce(o.ce) or o.ce
  util.check_arg(type(ce) == "cdata", "tp.model.cluster_expansion: ce must be a name, a path or load_ce(...)")
  local c = C.tp_model_init_ce(o.lattice, ce, o.h)
  local m = new_builtin("ce", c, o.lattice, { name = ffi.string(C.tp_ce_name(ce)) })
  m.clusters = {}
  for k = 0, C.tp_ce_ncluster(ce) - 1 do
    m.clusters[k + 1] = { name = ffi.string(C.tp_ce_cluster_name(ce, k)), eci = C.tp_ce_cluster_eci(ce, k),
      size = tonumber(C.tp_ce_cluster_size(ce, k)), multiplicity = tonumber(C.tp_model_ce_multiplicity(m.c, k)) }
  end
  return m
end

-- Cluster finder: tempera-ce 'cluster' lines (ECI 0) for every k-point
-- figure type whose pairwise distances are all within the cutoff (a
-- distance, or shells = K: the K-th neighbour-shell distance of lat).
function M.find_clusters(lat, o)
  check_lattice("tp.model.find_clusters", lat)
  o = util.options("tp.model.find_clusters", o, {
    size = { type = "integer", required = true }, cutoff = { type = "number" }, shells = { type = "integer" },
  })
  local cut = o.cutoff
  if o.shells then
    util.check_arg(o.shells >= 1 and o.shells <= lat.nshell, "tp.model.find_clusters: shells must be in 1..%d (the lattice's shells)", lat.nshell)
    cut = lat.shell_dist[o.shells - 1]
  end
  util.check_arg(cut ~= nil, "tp.model.find_clusters: give cutoff = distance or shells = K")
  local cap = 2 ^ 20
  local buf = ffi.new("char[?]", cap)
  util.check(C.tp_ce_find_clusters(lat, o.size, cut * (1 + 1e-9), buf, cap))
  return ffi.string(buf)
end

-- ---- Lua-defined energies -------------------------------------------------
-- The user's functions are called directly (no C callback), so LuaJIT
-- compiles them into the caller's loop.
local LuaModel = setmetatable({}, { __index = Model })
LuaModel.__index = LuaModel
LuaModel.__tostring = Model.__tostring

function LuaModel:energy(x) return self.energy_fn(x) end
function LuaModel:de(x, i, s) return self.de_fn(x, i, s) end
function LuaModel:de_swap(x, i, j)
  local a, b = x[i], x[j]
  if a == b then return 0 end
  local d1 = self.de_fn(x, i, b)
  x[i] = b
  local d2 = self.de_fn(x, j, a)
  x[i] = a
  return d1 + d2
end
function LuaModel:check(x, B)
  B = B or 1
  local q = self.q
  for k = 0, B * self.n - 1 do
    if x[k] >= q then
      util.raise("%s: configuration %d, site %d has token %d, must be < q = %d", self.name,
        math.floor(k / self.n) + 1, k % self.n + 1, x[k], q)
    end
  end
end
function LuaModel:energies(x, B, out)
  B = B or 1
  self:check(x, B)
  out = out or ffi.new("double[?]", B)
  local n, f = self.n, self.energy_fn
  for b = 0, B - 1 do
    local e = f(x + b * n)
    if type(e) ~= "number" or e ~= e then
      util.raise("%s: energy function returned %s for configuration %d", self.name, tostring(e), b + 1)
    end
    out[b] = e
  end
  return out
end

function M.lua(o)
  o = util.options("tp.model.lua", o, {
    lattice = { required = true }, states = { type = "integer", default = 2 },
    energy = { type = "callable", required = true }, de = { type = "callable" },
    name = { type = "string", default = "lua" },
  })
  check_lattice("tp.model.lua", o.lattice)
  util.check_arg(o.states >= 2 and o.states <= 255, "tp.model.lua: states must be in 2..255, got %d", o.states)
  -- energy_fn(x) and de_fn(x, i, s) are what drivers call (samplers, exact);
  -- they pass the lattice on as a convenience argument.  LuaJIT inlines
  -- these small closures into the caller's trace.
  local lat, user_energy, user_de, name = o.lattice, o.energy, o.de, o.name
  -- a user function that returns no number is reported as such, at the
  -- recipe's line (not as arithmetic on nil inside the stdlib)
  local function number(v, what)
    if type(v) ~= "number" then
      util.raise("tp.model.lua '%s': the %s function returned %s (it must return a number)", name, what, tostring(v))
    end
    return v
  end
  local energy = function(x) return number(user_energy(x, lat), "energy") end
  local de
  if user_de then
    de = function(x, i, s) return number(user_de(x, i, s, lat), "de") end
  else
    -- generic dE: two full energies (O(n)); give de = for speed
    de = function(x, i, s)
      local a = x[i]
      if s == a then return 0 end
      local e0 = number(user_energy(x, lat), "energy")
      x[i] = s
      local e1 = number(user_energy(x, lat), "energy")
      x[i] = a
      return e1 - e0
    end
  end
  return setmetatable({ kind = "lua", name = o.name, q = o.states, n = lat.n, lattice = lat,
    energy_fn = energy, de_fn = de, has_de = user_de ~= nil }, LuaModel)
end

function M.is_model(m)
  local mt = getmetatable(m)
  return mt == Model or mt == LuaModel
end

-- tp.model.get("ising", opts) with a clear error for unknown names
function M.get(name, o)
  local f = ({ ising = M.ising, potts = M.potts, cluster_expansion = M.cluster_expansion, ce = M.cluster_expansion, lua = M.lua })[name]
  if not f then util.raise("unknown model '%s' (known: cluster_expansion, ising, lua, potts)", tostring(name)) end
  return f(o)
end

util.doc(M.ising, [[
tp.model.ising{ lattice = lat, J = 1, h = 0 }
  H = -sum_s J[s] sum_<ij in shell s> s_i s_j - h sum_i s_i, s = 2x - 1, bonds once.
  J = {J1, J2, ...} couples further shells (the lattice needs that many shells).]])
util.doc(M.potts, [[
tp.model.potts{ lattice = lat, q = 3, J = 1, h = 0 }
  H = -sum_s J[s] sum_<ij in shell s> delta(x_i, x_j) - h sum_i delta(x_i, 0).]])
util.doc(M.cluster_expansion, [[
tp.model.cluster_expansion{ lattice = lat, ce = "cuau" | "file.ce", h = 0 }
  Formation energy (eV, total) of a binary cluster expansion minus h sum sigma
  File format: man tempera-models.  m:correlations(x).]])
util.doc(M.find_clusters, [[
tp.model.find_clusters(lat, { size = 3, shells = 2 } | { size = 3, cutoff = d }) -> text
  tempera-ce 'cluster' lines (ECI 0, multiplicity, representative) for every
  figure type of that size with all pairwise distances within the cutoff.]])
util.doc(M.lua, [[
tp.model.lua{ lattice = lat, states = 2, energy = function(x, lat) ... end,
              de = function(x, i, s, lat) ... end, name = "mine" }
  A user energy over an FFI uint8_t* configuration (0-based sites), usable
  wherever a built-in model goes.  Without de, dE costs two energies.]])
util.doc(M, [[
tempera.model -- energy models: ising{...}, potts{...}, cluster_expansion{...}, lua{...}.
Methods: m:energy(x), m:de(x, i, s), m:de_swap(x, i, j), m:energies(x, B), m:check(x, B).
tp.model.kB = Boltzmann's constant in eV/K.  man tempera-models.]])

-- a typo like tp.model.hexagonal is an error at the recipe's line
return setmetatable(M, { __index = function(_, k)
  util.raise("tp.model has no '%s' (known: cluster_expansion, ising, lua, potts)", tostring(k))
end })
