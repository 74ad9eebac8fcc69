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
    set_order = {}, torn = C.tp_plumed_torn(h) ~= 0 }, Table)
  for i = 0, C.tp_plumed_nfields(h) - 1 do t.fields[i + 1] = ffi.string(C.tp_plumed_field(h, i)) end
  for i = 0, C.tp_plumed_nset(h) - 1 do
    local k = ffi.string(C.tp_plumed_set_key(h, i))
    t.set[k], t.set_order[i + 1] = ffi.string(C.tp_plumed_set_value(h, i)), k
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
--                 strides = { name = k }, set = { key = value }, append = false,
--                 set_order = { keys } [default: sorted] })
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
  for _, k in ipairs(o.set_order or util.sorted_keys(o.set or {})) do keys[#keys + 1] = k; vals[#vals + 1] = tostring(o.set[k]) end
  util.check(C.tp_plumed_write(path, strings(o.fields), nf, strings(keys), strings(vals), #keys, cols, strides,
    rows, o.append and 1 or 0))
end

-- ---- hills --------------------------------------------------------------------

-- P.write_hills(path, { cv = { names }, centers = (n, dim), sigma = { per dim },
--                       heights = (n) deposited heights, bias_factor = gamma,
--                       time = (n) [optional], n =, append = false,
--                       set = { energy_unit = "J", ... } [more #! SET lines] })
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
  local keys, vals = {}, {}
  for _, k in ipairs(util.sorted_keys(o.set or {})) do keys[#keys + 1] = k; vals[#vals + 1] = tostring(o.set[k]) end
  util.check(C.tp_plumed_write_hills(path, strings(o.cv), t, c, s, h, o.bias_factor or 1, dim, n, strings(keys),
    strings(vals), #keys, o.append and 1 or 0))
end

local Hills = {}
Hills.__index = Hills

-- P.read_hills(path | { paths }) -> hills { n, dim, cv, bias_factor, centers[k],
--   sigma[k], heights (deposited, FFI array), time, :sum{...}, :sum_bias(b) }
--   or nil, msg.  A list reads several walkers' files as one set of hills
--   (as 'plumed sum_hills --hills HILLS.0,HILLS.1'); they must agree on the
--   CVs, kernel, bias factor and periods.
local read_one
function M.read_hills(path)
  if type(path) ~= "table" then return read_one(path) end
  util.check_arg(#path >= 1, "plumed.read_hills: an empty list of files")
  local parts = {}
  for i, p in ipairs(path) do
    local h, err = read_one(p)
    if not h then return nil, err end
    local a = parts[1]
    if a and (table.concat(a.cv, " ") ~= table.concat(h.cv, " ") or a.kernel ~= h.kernel or
        a.bias_factor ~= h.bias_factor or table.concat(a.period, " ") ~= table.concat(h.period, " ")) then
      return nil, string.format("%s and %s: the walkers' files disagree on the CVs, kernel, bias factor or periods",
        path[1], p)
    end
    parts[i] = h
  end
  if #parts == 1 then return parts[1] end
  local a, n = parts[1], 0
  for _, h in ipairs(parts) do n = n + h.n end
  local m = setmetatable({ n = n, dim = a.dim, cv = a.cv, bias_factor = a.bias_factor, kernel = a.kernel,
    period = a.period, torn = false, centers = {}, sigma = {}, parts = parts, paths = path }, getmetatable(a))
  local function cat(get)
    local out, at = ffi.new("double[?]", math.max(n, 1)), 0
    for _, h in ipairs(parts) do
      if h.n > 0 then ffi.copy(out + at, get(h), h.n * 8) end
      at = at + h.n
    end
    return out
  end
  for k = 1, a.dim do
    m.centers[k] = cat(function(h) return h.centers[k] end)
    m.sigma[k] = cat(function(h) return h.sigma[k] end)
  end
  m.heights = cat(function(h) return h.heights end)
  local all_time = true
  for _, h in ipairs(parts) do all_time = all_time and h.time ~= nil; m.torn = m.torn or h.torn end
  if all_time then m.time = cat(function(h) return h.time end) end
  return m
end

read_one = function(path)
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

-- ---- writing a run's HILLS and COLVAR ------------------------------------------

-- The unit of a model's energies, for the "#! SET energy_unit" line: J (the
-- coupling) for Ising and Potts, eV for a cluster expansion, a custom
-- model's energy_unit field, else "model_units".
function M.energy_unit(model)
  if type(model) ~= "table" then return "model_units" end
  if type(model.energy_unit) == "string" then return model.energy_unit end
  if model.kind == "ising" or model.kind == "potts" then return "J" end
  if model.kind == "ce" then return "eV" end
  return "model_units"
end

-- PLUMED labels: letters, digits, '_', '.', '-' (a CV's name otherwise)
function M.cv_labels(cv, dim)
  local base = tostring(cv and cv.name or "cv"):gsub("[^%w_%.%-]", "_")
  if base == "" then base = "cv" end
  local names = {}
  for k = 1, dim do names[k] = dim == 1 and base or (base .. "_" .. k) end
  return names
end

local Writer = {}
Writer.__index = Writer
local flush_state   -- below: writes a writer's kept rows

-- P.writer{ bias = b, hills = path, colvar = path, cv = { labels }, walkers = W,
--           time_unit = "sweep", energy_unit = "J", label = "metad", append = false }
-- -> writer; w:cycle(s, B, logw, time) deposits one cycle on b (the same
-- deposit as b:deposit, recorded by tp_bias_deposit_record) and appends its
-- hills to HILLS and, before them, the B walkers' CVs and V(s) to COLVAR.
-- With W > 1 walkers, hill b goes to walker b % W (0-based) and each walker
-- has its own files PATH.0 .. PATH.(W-1), PLUMED's multiple-walkers layout.
-- A hill within 7 sigma of a reflecting wall of the bias is written with
-- its mirror image(s) as more rows of the same time and height, so that
-- summing the file gives the bias grid itself (to 3e-11 of a hill).
function M.writer(o)
  o = util.options("tp.plumed.writer", o, {
    bias = { type = "any", required = true }, hills = { type = "string" }, colvar = { type = "string" },
    cv = { type = "table" }, walkers = { type = "integer", default = 1 },
    time_unit = { type = "string", default = "cycle" }, energy_unit = { type = "string", default = "model_units" },
    label = { type = "string", default = "metad" }, append = { type = "boolean", default = false },
  })
  local bh = bias_handle(o.bias)
  local info = ffi.new("tp_bias_info")
  util.check(C.tp_bias_get_info(bh, info))
  util.check_arg(o.walkers >= 1, "tp.plumed.writer: walkers must be >= 1, got %d", o.walkers)
  util.check_arg(info.kernel == C.TP_BIAS_GAUSSIAN or not o.hills,
    "tp.plumed.writer: a HILLS file holds Gaussian hills; this bias has the delta kernel")
  local cv = o.cv or M.cv_labels(nil, info.dim)
  util.check_arg(#cv == info.dim, "tp.plumed.writer: %d CV labels for a %d-D bias", #cv, info.dim)
  for _, name in ipairs(cv) do
    util.check_arg(type(name) == "string" and name:match("^[%w_%.%-]+$"),
      "tp.plumed.writer: CV label %s must be letters, digits, '_', '.' or '-'", tostring(name))
  end
  local function paths(base)
    if not base then return nil end
    local t = {}
    for k = 1, o.walkers do t[k] = o.walkers == 1 and base or string.format("%s.%d", base, k - 1) end
    return t
  end
  local w = setmetatable({ bias = o.bias, _b = bh, cv = cv, dim = info.dim, walkers = o.walkers,
    hills_paths = paths(o.hills), colvar_paths = paths(o.colvar), label = o.label,
    set_keys = { "energy_unit", "time_unit" }, set_vals = { o.energy_unit, o.time_unit }, cycles = 0, rows = 0 }, Writer)
  -- the file state and the rows kept in memory; they are written when the
  -- writer is collected or the process ends (a recipe need not call w:flush())
  local st = { hills_paths = w.hills_paths, colvar_paths = w.colvar_paths, cv = cv, label = o.label, dim = info.dim,
    set_keys = w.set_keys, set_vals = w.set_vals, cp = {}, hp = {}, pending = 0, last = C.tp_clock() }
  w._io = st
  w._flush_at_gc = ffi.gc(ffi.new("char[1]"), function() pcall(flush_state, st) end)
  if not o.append then
    for _, list in ipairs { w.hills_paths or {}, w.colvar_paths or {} } do
      for _, path in ipairs(list) do
        local f, err = util.open_write(path)
        if not f then util.raise("tp.plumed.writer: cannot write %s: %s", path, tostring(err)) end
        f:close()
      end
    end
  end
  return w
end

-- the centres of a hill at c (dim) and of its mirror images behind the
-- bias's reflecting walls (deposit_hill's rule: a hill on the wall is its
-- own image); an image more than IMAGE_REACH sigmas behind its wall adds
-- under 3e-11 of the hill's height inside the box and is not written
local IMAGE_REACH = 7
local function images(info, c, dim)
  local opts = {}
  for k = 0, dim - 1 do
    local x, on, reach = c[k], 1e-9 * info.spacing[k], IMAGE_REACH * info.sigma[k]
    local o = { x }
    local dlo, dhi = x - info.lo[k], info.hi[k] - x
    if info.wall_lo[k] ~= 0 and dlo > on and dlo < reach then o[#o + 1] = 2 * info.lo[k] - x end
    if info.wall_hi[k] ~= 0 and dhi > on and dhi < reach then o[#o + 1] = 2 * info.hi[k] - x end
    opts[k + 1] = o
  end
  local out = { {} }
  for k = 1, dim do
    local nxt = {}
    for _, pre in ipairs(out) do
      for _, x in ipairs(opts[k]) do
        local t = { unpack(pre) }
        t[k] = x
        nxt[#nxt + 1] = t
      end
    end
    out = nxt
  end
  return out
end

-- w:cycle(s, B [, logw], time): COLVAR rows (V before the deposit), then one
-- deposit cycle on the bias and its HILLS rows; returns the heights (B).
-- Rows are kept in memory and written at least once a second (and every
-- 256 cycles), at w:flush(), and when the writer is collected or the
-- process ends: a run with many fast cycles does not open every walker's
-- files every cycle (a trainer flushes before each checkpoint).
function Writer:cycle(s, B, logw, time)
  util.check_arg(type(B) == "number" and B >= 1 and B == math.floor(B), "plumed writer: B must be a count >= 1")
  util.check_arg(type(time) == "number" and time == time, "plumed writer: time must be a number")
  local dim, W = self.dim, self.walkers
  local p = dptr(s, "plumed writer: s")
  util.check_count("plumed writer", "s", s, B * dim, 8)
  local st = self._io
  if self.colvar_paths then
    local V = ffi.new("double[?]", B)
    util.check(C.tp_bias_eval(self._b, V, p, B))
    for i = 0, B - 1 do
      local k = i % W + 1
      local rows = st.cp[k] or {}
      st.cp[k] = rows
      rows[#rows + 1] = time
      for d = 0, dim - 1 do rows[#rows + 1] = p[i * dim + d] end
      rows[#rows + 1] = V[i]
    end
  end
  local h, c = ffi.new("double[?]", B), ffi.new("double[?]", B * dim)
  if logw ~= nil then util.check_count("plumed writer", "logw", logw, B, 8) end
  util.check(C.tp_bias_deposit_record(self._b, p, logw, B, h, c))
  self.cycles = self.cycles + 1
  if self.hills_paths then
    local info = ffi.new("tp_bias_info")
    util.check(C.tp_bias_get_info(self._b, info))
    -- the rows kept so far share one sigma and bias factor (a schedule may
    -- change them between cycles): write them first when these change
    local sig = {}
    for k = 1, dim do sig[k] = info.sigma[k - 1] end
    local key = table.concat(sig, " ") .. " " .. tostring(info.bias_factor)
    if st.hkey and st.hkey ~= key then flush_state(st) end
    st.hkey, st.hsig, st.hgamma = key, sig, info.bias_factor
    for i = 0, B - 1 do
      local k = i % W + 1
      local rows = st.hp[k] or { cen = {}, hts = {}, tim = {} }
      st.hp[k] = rows
      for _, im in ipairs(images(info, c + i * dim, dim)) do
        for d = 1, dim do rows.cen[#rows.cen + 1] = im[d] end
        rows.hts[#rows.hts + 1] = h[i]
        rows.tim[#rows.tim + 1] = time
        self.rows = self.rows + 1
      end
    end
  end
  st.pending = st.pending + 1
  if C.tp_clock() - st.last >= 1 or st.pending >= 256 then flush_state(st) end
  return h
end

-- the rows kept in memory, written (every file checked).  st is the
-- writer's file state (paths, labels, kept rows), apart from the writer so
-- that its collection can still write them
flush_state = function(st)
  local keys, vals = strings(st.set_keys), strings(st.set_vals)
  local dim = st.dim
  if st.colvar_paths and st.cp then
    local fields = { "time" }
    for _, n in ipairs(st.cv) do fields[#fields + 1] = n end
    fields[#fields + 1] = st.label .. ".bias"
    local nf = #fields
    local names = strings(fields)
    local cp = st.cp
    st.cp = {}
    for k, rows in pairs(cp) do
      local n = #rows / nf
      if n > 0 then
        local a = ffi.new("double[?]", #rows, rows)
        local cols, strides = ffi.new("const double *[?]", nf), ffi.new("int32_t[?]", nf)
        for f = 0, nf - 1 do cols[f], strides[f] = a + f, nf end
        util.check(C.tp_plumed_write(st.colvar_paths[k], names, nf, keys, vals, #st.set_keys, cols, strides, n, 1))
      end
    end
  end
  if st.hills_paths and st.hp then
    local names = strings(st.cv)
    local sig = ffi.new("double[?]", dim, st.hsig or {})
    local hp = st.hp
    st.hp = {}
    for k, rows in pairs(hp) do
      local n = #rows.hts
      if n > 0 then
        util.check(C.tp_plumed_write_hills(st.hills_paths[k], names, ffi.new("double[?]", n, rows.tim),
          ffi.new("double[?]", n * dim, rows.cen), sig, ffi.new("double[?]", n, rows.hts), st.hgamma, dim, n, keys,
          vals, #st.set_keys, 1))
      end
    end
  end
  st.pending, st.last = 0, C.tp_clock()
end

-- w:flush(): write the rows kept in memory (every file checked)
function Writer:flush() flush_state(self._io) end

-- w:cut(time): drop the rows later than time from every file (a run resumed
-- from a checkpoint taken then continues its files without repeating rows)
function Writer:cut(time)
  self:flush()
  for _, list in ipairs { self.hills_paths or {}, self.colvar_paths or {} } do
    for _, path in ipairs(list) do
      local t = M.read(path)
      if t and t:has("time") then
        local tc, keep = t:column("time"), {}
        for r = 0, t.rows - 1 do if tc[r] <= time then keep[#keep + 1] = r end end
        if #keep < t.rows or t.torn then
          local cols = {}
          for _, f in ipairs(t.fields) do
            local src, a = t:column(f), ffi.new("double[?]", math.max(#keep, 1))
            for i, r in ipairs(keep) do a[i - 1] = src[r] end
            cols[f] = a
          end
          M.write(path, { fields = t.fields, columns = cols, rows = #keep, set = t.set, set_order = t.set_order })
        end
      end
    end
  end
end

-- The recorder of a hand-written loop:
-- P.hills(path, { bias = b, cv = { names }, append = false }) -> recorder;
-- rec:deposit(s, B) deposits one cycle on b and appends its B hills
-- (time = the recorder's cycle count) to the HILLS file.
function M.hills(path, o)
  util.check_arg(type(path) == "string" and type(o) == "table", "plumed.hills(path, { bias =, cv = {...} })")
  local w = M.writer{ bias = o.bias, hills = path, cv = o.cv, append = o.append, time_unit = "cycle",
    energy_unit = o.energy_unit }
  w.path = path
  w.hills = 0
  return w
end

function Writer:deposit(s, B)
  util.check_arg(type(B) == "number" and B >= 1, "hills:deposit(s, B): B >= 1")
  local h = self:cycle(s, B, nil, self.cycles + 1)
  self:flush()   -- a hand-written loop may read the file at once
  self.hills = (self.hills or 0) + B
  return h
end

util.doc(M, [[
tp.plumed -- PLUMED-style HILLS and COLVAR files (man tempera-analysis)
  t, err = P.read(path)      t.fields t.set t.rows t:column(name) t:list(name)
  P.write(path, { fields = {...}, columns = { name = array }, rows = n, set = {}, append = })
  P.write_hills(path, { cv = {...}, centers =, sigma =, heights =, bias_factor =, n = })
  h, err = P.read_hills(path)  h:sum{ lo =, hi =, points = }  h:sum_bias(b)
  rec = P.hills(path, { bias = b, cv = {...} })   rec:deposit(s, B)
  w = P.writer{ bias =, hills =, colvar =, cv =, walkers =, time_unit =, energy_unit = }
      w:cycle(s, B, logw, time)   w:cut(time)     (tp.mc.metad and tp.train use it)
HILLS heights are written times gamma/(gamma-1) (PLUMED's well-tempered
convention) and divided back on reading.]])

return M
