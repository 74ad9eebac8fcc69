-- tempera.plumed: PLUMED-style HILLS and COLVAR text files ("#! FIELDS"
-- header), so a tempera bias can be checked with PLUMED's own tools
-- (e.g. 'plumed sum_hills --hills HILLS').  C does the parsing and the
-- sums (runtime/plumed.c); man tempera-analysis(5) documents the format.
--
-- Height convention: PLUMED writes a well-tempered hill's height times
-- gamma/(gamma-1) (so the summed file is -F directly); write_hills applies
-- that factor and read_hills undoes it, so heights in Lua are always the
-- heights actually added to the bias.
--
--   local rec = tp.plumed.hills("HILLS", { bias = b, cv = { "m" } })
--   rec:deposit(s, B)                 -- deposits on b AND appends B rows
--   local h = assert(tp.plumed.read_hills("HILLS"))
--   local V = h:sum{ lo = { -1 }, hi = { 1 }, points = { 257 } }
--
-- Missing or malformed files: read/read_hills return nil, msg.  Wrong
-- arguments raise at the recipe's line.
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}

local function errmsg()
  local m = ffi.string(C.tp_last_error())
  return m ~= "" and m or "unknown error"
end

local function dptr(x, what)
  if type(x) == "cdata" then return ffi.cast("const double *", x), x end
  if type(x) == "table" then
    local a = ffi.new("double[?]", math.max(#x, 1))
    for i = 1, #x do a[i - 1] = x[i] end
    return a, a
  end
  util.raise("%s: expected an FFI double array or a list", what)
end

local function strings(list)
  local a = ffi.new("const char *[?]", math.max(#list, 1))
  for i, s in ipairs(list) do a[i - 1] = s end
  return a
end

-- The C handle of a bias: a tp_bias* or a table wrapping one.
local function bias_handle(b)
  if type(b) == "cdata" then return b end
  if type(b) == "table" then
    for _, k in ipairs { "c", "_b", "_h", "h", "handle", "ptr", "cdata" } do   -- tp.bias.grid's is .c
      local h = rawget(b, k)
      if type(h) == "cdata" then return h end
    end
  end
  util.raise("expected a tp.bias object (or a tp_bias pointer), got %s", type(b))
end
M.bias_handle = bias_handle

-- ---- tables ------------------------------------------------------------------

local Table = {}
Table.__index = Table

-- P.read(path) -> table { fields, set, rows, :column(name), :list(name) } or nil, msg
function M.read(path)
  util.check_arg(type(path) == "string", "plumed.read: path must be a string")
  local h = C.tp_plumed_read(path)
  if h == nil then return nil, errmsg() end
  h = ffi.gc(h, C.tp_plumed_free)
  local t = setmetatable({ path = path, _h = h, rows = tonumber(C.tp_plumed_rows(h)), fields = {}, set = {},
    torn = C.tp_plumed_torn(h) ~= 0 }, Table)
  for i = 0, C.tp_plumed_nfields(h) - 1 do t.fields[i + 1] = ffi.string(C.tp_plumed_field(h, i)) end
  for i = 0, C.tp_plumed_nset(h) - 1 do
    t.set[ffi.string(C.tp_plumed_set_key(h, i))] = ffi.string(C.tp_plumed_set_value(h, i))
  end
  return t
end

-- t:column(name) -> FFI const double* (rows values; valid while t lives)
function Table:column(name)
  local i = C.tp_plumed_find(self._h, name)
  if i < 0 then util.raise("%s has no field '%s' (fields: %s)", self.path, tostring(name), table.concat(self.fields, " ")) end
  return C.tp_plumed_column(self._h, i)
end

function Table:has(name) return C.tp_plumed_find(self._h, name) >= 0 end

function Table:list(name)
  local c, t = self:column(name), {}
  for i = 0, self.rows - 1 do t[i + 1] = c[i] end
  return t
end

-- P.write(path, { fields = {...}, columns = { name = array }, rows = n,
--                 strides = { name = k }, set = { key = value }, append = false })
function M.write(path, o)
  util.check_arg(type(path) == "string" and type(o) == "table" and type(o.fields) == "table",
    "plumed.write(path, { fields = {...}, columns = {...}, rows = n })")
  local nf = #o.fields
  local cols, strides, anchors = ffi.new("const double *[?]", nf), ffi.new("int32_t[?]", nf), {}
  local rows = o.rows
  for i, name in ipairs(o.fields) do
    local col = o.columns and o.columns[name]
    if col == nil then util.raise("plumed.write: no column for field '%s'", name) end
    local p, a = dptr(col, "plumed.write: column " .. name)
    cols[i - 1], anchors[i] = p, a
    local st = (o.strides and o.strides[name]) or 1
    util.check_arg(type(st) == "number" and st >= 1 and st < 2 ^ 31 and st == math.floor(st),
      "plumed.write: stride of '%s' must be an integer >= 1, got %s", name, tostring(st))
    strides[i - 1] = st
    if rows == nil and type(col) == "table" then rows = #col end
  end
  util.check_arg(type(rows) == "number" and rows >= 0 and rows == math.floor(rows), "plumed.write: give rows (a count)")
  for i, name in ipairs(o.fields) do   -- the last row's value must lie inside each column
    local st, col = strides[i - 1], o.columns[name]
    local len = type(col) == "table" and #col or util.array_len(col, 8)
    util.check_arg(len == nil or rows == 0 or (rows - 1) * st < len,
      "plumed.write: column '%s' holds %d values, %d rows with stride %d need %.0f", name, len or 0, rows, st, (rows - 1) * st + 1)
  end
  local keys, vals = {}, {}
  for _, k in ipairs(util.sorted_keys(o.set or {})) do keys[#keys + 1] = k; vals[#vals + 1] = tostring(o.set[k]) end
  util.check(C.tp_plumed_write(path, strings(o.fields), nf, strings(keys), strings(vals), #keys, cols, strides,
    rows, o.append and 1 or 0))
end

-- ---- hills --------------------------------------------------------------------

-- P.write_hills(path, { cv = { names }, centers = (n, dim), sigma = { per dim },
--                       heights = (n) deposited heights, bias_factor = gamma,
--                       time = (n) [optional], n =, append = false })
function M.write_hills(path, o)
  util.check_arg(type(path) == "string" and type(o) == "table" and type(o.cv) == "table",
    "plumed.write_hills(path, { cv = {...}, centers =, sigma =, heights =, bias_factor =, n = })")
  local dim = #o.cv
  local n = o.n or (type(o.heights) == "table" and #o.heights)
  util.check_arg(type(n) == "number", "plumed.write_hills: give n")
  local c = dptr(o.centers, "plumed.write_hills: centers")
  local s = dptr(o.sigma, "plumed.write_hills: sigma")
  local h = dptr(o.heights, "plumed.write_hills: heights")
  local t = o.time and dptr(o.time, "plumed.write_hills: time") or nil
  util.check(C.tp_plumed_write_hills(path, strings(o.cv), t, c, s, h, o.bias_factor or 1, dim, n, o.append and 1 or 0))
end

local Hills = {}
Hills.__index = Hills

-- P.read_hills(path) -> hills { n, dim, cv, bias_factor, centers[k], sigma[k],
--   heights (deposited, FFI array), time, :sum{...}, :sum_bias(b) } or nil, msg
function M.read_hills(path)
  local t, err = M.read(path)
  if not t then return nil, err end
  -- the CVs are the fields X with a sigma_X beside them, in FIELDS order
  -- (labels may hold underscores: d_a_b and sigma_d_a_b)
  local cv = {}
  for _, f in ipairs(t.fields) do
    if f ~= "time" and f ~= "height" and f ~= "biasf" and not f:match("^sigma_") and t:has("sigma_" .. f) then
      cv[#cv + 1] = f
    end
  end
  if #cv == 0 or not t:has("height") then return nil, path .. ": not a HILLS file (needs CV, sigma_CV and height fields)" end
  if t.set.multivariate == "true" then
    return nil, path .. ": multivariate hills (a full covariance per hill, #! SET multivariate true) are not " ..
      "supported; write them with MULTIVARIATE=NO (diagonal sigmas)"
  end
  local kernel = t.set.kerneltype or "gaussian"
  if kernel ~= "gaussian" and kernel ~= "stretched-gaussian" then
    return nil, string.format("%s: kernel type '%s' is not supported (gaussian, stretched-gaussian)", path, kernel)
  end
  -- periodic CVs: #! SET min_X / max_X (numbers, or pi multiples as PLUMED writes them)
  local function num(s)
    if s == nil then return nil end
    local v = tonumber(s)
    if v then return v end
    local sign, mul = s:match("^([+-]?)(.-)%*?pi$")
    if sign then
      mul = mul == "" and 1 or tonumber(mul)
      if mul then return (sign == "-" and -1 or 1) * mul * math.pi end
    end
    return nil
  end
  local period = {}
  for k, name in ipairs(cv) do
    local lo, hi = t.set["min_" .. name], t.set["max_" .. name]
    period[k] = 0
    if lo or hi then
      local a, b = num(lo), num(hi)
      if not (a and b and b > a) then
        return nil, string.format("%s: periodic CV %s: cannot read min_%s %s, max_%s %s", path, name, name,
          tostring(lo), name, tostring(hi))
      end
      period[k] = b - a
    end
  end
  local gamma = t:has("biasf") and t.rows > 0 and t:column("biasf")[0] or 1
  local h = setmetatable({ table = t, n = t.rows, dim = #cv, cv = cv, bias_factor = gamma, kernel = kernel,
    period = period, torn = t.torn, centers = {}, sigma = {}, time = t:has("time") and t:column("time") or nil }, Hills)
  for k, name in ipairs(cv) do h.centers[k], h.sigma[k] = t:column(name), t:column("sigma_" .. name) end
  h.heights = ffi.new("double[?]", math.max(h.n, 1))
  util.check(C.tp_rw_scale(h.heights, t:column("height"), C.tp_plumed_hills_scale(gamma), h.n))
  return h
end

-- h:sum{ lo = {...}, hi = {...}, points = {...} } -> V (FFI double array), size
function Hills:sum(g)
  util.check_arg(type(g) == "table" and type(g.lo) == "table" and type(g.hi) == "table" and type(g.points) == "table"
    and #g.lo == self.dim and #g.hi == self.dim and #g.points == self.dim,
    "hills:sum{ lo = {...}, hi = {...}, points = {...} } with one entry per CV (%d)", self.dim)
  local size = 1
  for k = 1, self.dim do size = size * g.points[k] end
  local V = ffi.new("double[?]", size)
  local cen, sig = ffi.new("const double *[?]", self.dim), ffi.new("const double *[?]", self.dim)
  for k = 1, self.dim do cen[k - 1], sig[k - 1] = self.centers[k], self.sigma[k] end
  local pts = ffi.new("int32_t[?]", self.dim, g.points)
  local per = ffi.new("double[?]", self.dim)
  for k = 1, self.dim do per[k - 1] = self.period and self.period[k] or 0 end
  util.check(C.tp_plumed_sum_hills_ex(V, cen, sig, self.heights, ffi.new("double[?]", self.dim, g.lo),
    ffi.new("double[?]", self.dim, g.hi), pts, 1, self.dim, self.n, per,
    self.kernel == "stretched-gaussian" and 1 or 0))
  return V, size
end

-- h:sum_bias(b) -> V on the grid of bias b (FFI array, size)
function Hills:sum_bias(b)
  local bh = bias_handle(b)
  local info = ffi.new("tp_bias_info")
  util.check(C.tp_bias_get_info(bh, info))
  util.check_arg(info.dim == self.dim, "hills:sum_bias: the bias has %d dimensions, the hills %d", info.dim, self.dim)
  local lo, hi, pts = {}, {}, {}
  for k = 1, self.dim do lo[k], hi[k], pts[k] = info.lo[k - 1], info.hi[k - 1], info.points[k - 1] end
  return self:sum{ lo = lo, hi = hi, points = pts }
end

-- ---- recording a run ---------------------------------------------------------

local Rec = {}
Rec.__index = Rec

-- P.hills(path, { bias = b, cv = { names }, append = false }) -> recorder;
-- rec:deposit(s, B) deposits one well-tempered cycle on b hill by hill and
-- appends its B hills (time = cycle number) to the HILLS file.
function M.hills(path, o)
  util.check_arg(type(path) == "string" and type(o) == "table", "plumed.hills(path, { bias =, cv = {...} })")
  local bh = bias_handle(o.bias)
  local info = ffi.new("tp_bias_info")
  util.check(C.tp_bias_get_info(bh, info))
  local cv = o.cv or {}
  if #cv == 0 then for k = 1, info.dim do cv[k] = "cv" .. k end end
  util.check_arg(#cv == info.dim, "plumed.hills: %d CV names for a %d-D bias", #cv, info.dim)
  local r = setmetatable({ path = path, bias = o.bias, _b = bh, cv = cv, dim = info.dim, cycle = 0, hills = 0 }, Rec)
  if not o.append then
    local f = util.open_write(path)
    if not f then util.raise("plumed.hills: cannot write %s", path) end
    f:close()
  end
  return r
end

function Rec:deposit(s, B)
  util.check_arg(type(B) == "number" and B >= 1, "hills:deposit(s, B): B >= 1")
  local p = dptr(s, "hills:deposit")
  local h, c = ffi.new("double[?]", B), ffi.new("double[?]", B * self.dim)
  util.check(C.tp_plumed_deposit(self._b, h, c, p, B))
  local info = ffi.new("tp_bias_info")
  util.check(C.tp_bias_get_info(self._b, info))
  self.cycle = self.cycle + 1
  local t = ffi.new("double[?]", B)
  for i = 0, B - 1 do t[i] = self.cycle end
  local sig = ffi.new("double[?]", self.dim)
  for k = 0, self.dim - 1 do sig[k] = info.sigma[k] end
  util.check(C.tp_plumed_write_hills(self.path, strings(self.cv), t, c, sig, h, info.bias_factor, self.dim, B, 1))
  self.hills = self.hills + B
  return h
end

util.doc(M, [[
tp.plumed -- PLUMED-style HILLS and COLVAR files (man tempera-analysis)
  t, err = P.read(path)      t.fields t.set t.rows t:column(name) t:list(name)
  P.write(path, { fields = {...}, columns = { name = array }, rows = n, set = {}, append = })
  P.write_hills(path, { cv = {...}, centers =, sigma =, heights =, bias_factor =, n = })
  h, err = P.read_hills(path)  h:sum{ lo =, hi =, points = }  h:sum_bias(b)
  rec = P.hills(path, { bias = b, cv = {...} })   rec:deposit(s, B)
HILLS heights are written times gamma/(gamma-1) (PLUMED's well-tempered
convention) and divided back on reading.]])

return M
