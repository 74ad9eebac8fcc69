-- tempera.lattice: periodic lattices (runtime/lattice.c).
--   tp.lattice.square(L)                    L x L, site i = x + L*y
--   tp.lattice.cubic(L)                     L x L x L
--   tp.lattice.fcc{ n = {4, 4, 4} }         FCC primitive supercell, a/2 units
--   tp.lattice.custom{ cell = {{1,0},{0.5,0.8660254}}, basis = {{0,0}}, size = {6,6} }
-- All take shells = K (neighbour shells to find, 1..8).  A lattice is FFI
-- cdata (struct tp_lattice, read-only): lat.n, lat.dim, lat.nb[s][i*z+k]
-- (0-based), lat.shell_z[s], lat.bonds[s], lat.color, lat.pos[3*i+k].
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}

local methods = {}

-- int32 array: the site at pos[i] + offset for every site i (0-based)
function methods.shift(lat, offset)
  util.check_arg(type(offset) == "table" and #offset >= 1 and #offset <= 3,
    "lattice:shift expects an offset table like {1, 0}")
  local off = ffi.new("double[3]", offset[1] or 0, offset[2] or 0, offset[3] or 0)
  local out = ffi.new("int32_t[?]", lat.n)
  util.check(C.tp_lattice_shift(lat, out, off))
  return out
end

-- neighbour table of shell s (1-based shell number, default 1):
-- returns the int32_t* (n, z) array and z; the pointer lives as long as lat
function methods.neighbors(lat, s)
  s = s or 1
  util.check_arg(s >= 1 and s <= lat.nshell, "lattice:neighbors: shell %s not in 1..%d", tostring(s), lat.nshell)
  return lat.nb[s - 1], lat.shell_z[s - 1]
end

-- site index (0-based) at Cartesian position {x, y, z}, or nil
function methods.site(lat, p)
  local v = ffi.new("double[3]", p[1] or 0, p[2] or 0, p[3] or 0)
  local i = C.tp_lattice_find_site(lat, v)
  if i < 0 then return nil end
  return i
end

-- position of site i (0-based) as x, y, z
function methods.position(lat, i)
  util.check_arg(i >= 0 and i < lat.n, "lattice:position: site %s out of range 0..%d", tostring(i), lat.n - 1)
  return lat.pos[3 * i], lat.pos[3 * i + 1], lat.pos[3 * i + 2]
end

-- a zeroed configuration buffer: uint8_t[B * n] (B default 1)
function methods.config(lat, B)
  B = B or 1
  util.check_arg(B >= 1 and B == math.floor(B), "lattice:config: B must be a positive integer")
  return ffi.new("uint8_t[?]", B * lat.n)
end

function methods.kind_name(lat) return ffi.string(lat.kind) end

local function describe(lat)
  local size = {}
  for k = 0, lat.dim - 1 do size[#size + 1] = tostring(lat.size[k]) end
  local z = {}
  for s = 0, lat.nshell - 1 do z[#z + 1] = tostring(lat.shell_z[s]) end
  return string.format("lattice %s %s (%d sites, shells z = %s%s)", ffi.string(lat.kind),
    table.concat(size, "x"), lat.n, table.concat(z, ","), lat.bipartite ~= 0 and ", bipartite" or "")
end

ffi.metatype("tp_lattice", { __index = methods, __tostring = describe })

local function wrap(p)
  return ffi.gc(util.check_ptr(p), C.tp_lattice_free)
end

local function int_arg(fname, v, what)
  util.check_arg(type(v) == "number" and v == math.floor(v) and v >= 1,
    "%s: %s must be a positive integer, got %s", fname, what, tostring(v))
  return v
end

-- square(L) or square{ L = 16, shells = 2 }; cubic(L) or cubic{ L = 8, shells = 2 }
local function hypercubic(fname, init)
  return function(a, shells)
    local L = a
    if type(a) == "table" then
      local o = util.options(fname, a, { L = { type = "integer", required = true }, shells = { type = "integer", default = 2 } })
      L, shells = o.L, o.shells
    end
    int_arg(fname, L, "L")
    return wrap(init(L, shells or 2))
  end
end
M.square = hypercubic("tp.lattice.square", C.tp_lattice_init_square)
M.cubic = hypercubic("tp.lattice.cubic", C.tp_lattice_init_cubic)

-- fcc{ n = {n1, n2, n3}, shells = 4 } or fcc(n1, n2, n3)
function M.fcc(a, b, c)
  local n, shells
  if type(a) == "table" then
    local o = util.options("tp.lattice.fcc", a, { n = { type = "table", required = true }, shells = { type = "integer", default = 4 } })
    n, shells = o.n, o.shells
    util.check_arg(#n == 3, "tp.lattice.fcc: n must be {n1, n2, n3}")
  else
    n, shells = { a, b, c }, 4
  end
  for k = 1, 3 do int_arg("tp.lattice.fcc", n[k], "n[" .. k .. "]") end
  return wrap(C.tp_lattice_init_fcc(n[1], n[2], n[3], shells))
end

-- custom{ cell = {{...}, ...}, basis = {{...}, ...}, size = {...}, shells = 2, kind = "name" }
function M.custom(o)
  o = util.options("tp.lattice.custom", o, {
    cell = { type = "table", required = true }, basis = { type = "table", default = nil },
    size = { type = "table", required = true }, shells = { type = "integer", default = 2 },
    kind = { type = "string", default = "custom" },
  })
  local dim = #o.cell
  util.check_arg(dim >= 1 and dim <= 3, "tp.lattice.custom: cell must have 1 to 3 vectors, got %d", dim)
  local prim = ffi.new("double[?]", dim * dim)
  for k = 1, dim do
    local v = o.cell[k]
    util.check_arg(type(v) == "table" and #v == dim, "tp.lattice.custom: cell vector %d must have %d components", k, dim)
    for j = 1, dim do prim[(k - 1) * dim + j - 1] = v[j] end
  end
  local basis = o.basis or { {} }
  local nb = #basis
  util.check_arg(nb >= 1, "tp.lattice.custom: basis must list at least one site")
  local bf = ffi.new("double[?]", nb * dim)
  for b = 1, nb do
    for j = 1, dim do
      local v = basis[b][j] or 0
      util.check_arg(type(v) == "number", "tp.lattice.custom: basis site %d: coordinates must be numbers", b)
      bf[(b - 1) * dim + j - 1] = v
    end
  end
  util.check_arg(#o.size == dim, "tp.lattice.custom: size must have %d entries", dim)
  local size = ffi.new("int32_t[?]", dim)
  for k = 1, dim do size[k - 1] = int_arg("tp.lattice.custom", o.size[k], "size[" .. k .. "]") end
  return wrap(C.tp_lattice_init(dim, prim, nb, bf, size, o.shells, o.kind))
end

-- tp.lattice.get("square", ...) style lookup, with a clear error for typos
function M.get(name, ...)
  local f = ({ square = M.square, cubic = M.cubic, fcc = M.fcc, custom = M.custom })[name]
  if not f then util.raise("unknown lattice '%s' (known: cubic, custom, fcc, square)", tostring(name)) end
  return f(...)
end

function M.is_lattice(x) return type(x) == "cdata" and ffi.istype("tp_lattice *", x) end

util.doc(M.square, "tp.lattice.square(L) / square{ L = L, shells = 2 }: L x L periodic square lattice, site i = x + L*y")
util.doc(M.cubic, "tp.lattice.cubic(L) / cubic{ L = L, shells = 2 }: simple cubic L^3, i = x + L*(y + L*z)")
util.doc(M.fcc, "tp.lattice.fcc{ n = {n1, n2, n3}, shells = 4 }: FCC primitive-cell supercell; integer coordinates in units of a/2")
util.doc(M.custom, [[
tp.lattice.custom{ cell = {{a1...}, {a2...}}, basis = {{f...}, ...}, size = {n1, n2}, shells = 2, kind = "name" }
  General periodic lattice: primitive vectors (Cartesian rows), basis in
  fractional coordinates, repetitions.  E.g. triangular: cell = {{1,0},{0.5,0.8660254037844386}}.]])
util.doc(M, [[
tempera.lattice -- periodic lattices.  square(L), cubic(L), fcc{n={...}}, custom{...}.
A lattice is read-only FFI data: lat.n, lat.dim, lat.nshell, lat.shell_z[s],
lat.nb[s][i*z + k] (0-based sites and shells), lat.bonds[s], lat.color, lat.pos.
Methods: lat:shift{dx,dy[,dz]} -> int32 map, lat:neighbors(shell) -> nb, z,
lat:site{x,y,z}, lat:position(i), lat:config(B) -> uint8_t[B*n].  man tempera-models.]])

-- a typo like tp.lattice.hexagonal is an error at the recipe's line
return setmetatable(M, { __index = function(_, k)
  util.raise("tp.lattice has no '%s' (known: cubic, custom, fcc, square)", tostring(k))
end })
