-- tempera.dump: sample dumps (.tpd files; format in tempera-dump(5)).
--
--   local w = tp.dump.open("run.tpd", { fields = {
--       { name = "config", type = "config", states = 2, shape = { 16, 16 } },
--       { name = "energy", type = "f64" },
--       { name = "cv",     type = "f64", width = 2 },
--       { name = "chain",  type = "i32" }, { name = "step", type = "i64" } },
--     lattice = lat, model = model })
--   w:append{ config = x, energy = e, cv = { m, q }, chain = 0, step = t }
--   w:close()
--
--   local d = assert(tp.dump.read("run.tpd"))
--   for c in d:chunks() do local e = c:get("energy") ... end
--   local t, err = d:load{ "energy", "config" }   -- t.n, t.energy[0..n-1]
--
-- The header records the recipe text (and its SHA-256), parameters, seed,
-- tempera version, lattice and model automatically.  Wrong arguments raise
-- at the recipe's line; a missing or unreadable file makes read() return
-- nil, msg; damage found while reading ends the iteration and is left in
-- d.error (load returns it as a second value) after every intact chunk.
-- A writer that is never closed is closed when garbage-collected or when
-- the run ends (also after an error or Ctrl-C).
local F = require "tempera.ffi"
local util = require "tempera.util"
local run = require "tempera.run"
local C, ffi = F.C, F.ffi

local M = {}

local TYPES = { f64 = 1, f32 = 2, i32 = 3, i64 = 4, config = 5 }
local TYPE_NAMES = { "f64", "f32", "i32", "i64", "config" }
local CTYPES = { "double[?]", "float[?]", "int32_t[?]", "int64_t[?]", "uint8_t[?]" }
local ESIZE = { 8, 4, 4, 8, 1 }
local voidp = ffi.typeof("const void*")
M.types = TYPE_NAMES

local function errmsg()
  local m = ffi.string(C.tp_last_error())
  return m ~= "" and m or "unknown error"
end

-- ---- schema --------------------------------------------------------------

local function field_spec(i, f)
  if type(f) ~= "table" then util.raise("tp.dump.open: fields[%d] must be a table", i) end
  local name, ty = f.name or f[1], f.type or f[2]
  if type(name) ~= "string" then util.raise("tp.dump.open: fields[%d] needs a name", i) end
  if not TYPES[ty] then
    util.raise("tp.dump.open: field '%s': type must be one of %s, got %s", name, table.concat(TYPE_NAMES, ", "), tostring(ty))
  end
  local shape = f.shape
  local width = f.width or f.sites or f[3]
  if shape ~= nil then
    if type(shape) ~= "table" or #shape < 1 or #shape > 4 then
      util.raise("tp.dump.open: field '%s': shape must be a list of 1 to 4 sizes", name)
    end
    local prod = 1
    for _, d in ipairs(shape) do prod = prod * d end
    if width ~= nil and width ~= prod then util.raise("tp.dump.open: field '%s': width %s disagrees with shape", name, tostring(width)) end
    width = prod
  end
  width = width or 1
  if ty == "config" and f.states == nil then util.raise("tp.dump.open: config field '%s' needs states", name) end
  if ty ~= "config" and f.states ~= nil then util.raise("tp.dump.open: field '%s': states is only for configs", name) end
  return { name = name, type = ty, width = width, states = f.states, shape = shape }
end

local function to_cfields(specs)
  local n = #specs
  local cf = ffi.new("tp_dump_field[?]", n)
  local anchors = {}
  for i, s in ipairs(specs) do
    local c = cf[i - 1]
    local name = ffi.new("char[?]", #s.name + 1, s.name)
    anchors[#anchors + 1] = name
    c.name = name
    c.type = TYPES[s.type]
    c.width = s.width
    c.states = s.states or 0
    c.ndims = s.shape and #s.shape or 0
    for d = 1, c.ndims do c.dims[d - 1] = s.shape[d] end
  end
  return cf, anchors
end

local function from_cfield(cf)
  local f = {
    name = ffi.string(cf.name), type = TYPE_NAMES[cf.type] or "?", width = tonumber(cf.width),
    states = cf.states ~= 0 and tonumber(cf.states) or nil,
  }
  if cf.ndims > 0 then
    f.shape = {}
    for d = 0, cf.ndims - 1 do f.shape[d + 1] = tonumber(cf.dims[d]) end
  end
  return f
end

-- ---- header metadata recorded for every run ----------------------------------

local function describe(x)
  if x == nil then return nil end
  if type(x) == "string" then return x end
  local mt = getmetatable(x)
  if type(x) == "table" and type(x.describe) == "function" then return x:describe() end
  if mt and mt.__tostring then return tostring(x) end
  return tostring(x)
end

-- { keys = {...}, values = {...} } in a fixed order
function M.run_metadata(opts)
  opts = opts or {}
  local keys, vals = {}, {}
  local function add(k, v)
    if v == nil then return end
    for i, kk in ipairs(keys) do if kk == k then vals[i] = tostring(v); return end end
    keys[#keys + 1], vals[#vals + 1] = k, tostring(v)
  end
  add("tempera", ffi.string(C.tp_version()))
  add("created", os.date("!%Y-%m-%dT%H:%M:%SZ"))
  local cli = run.cli
  add("recipe_file", cli.recipe)
  add("recipe", cli.recipe_text)
  add("seed", string.format("%d", run.seed()))
  add("threads", tonumber(C.tp_threads_get()))
  if C.tp_mpi_size() > 1 then add("ranks", tonumber(C.tp_mpi_size())) end
  if run.params_values then
    local parts = {}
    for _, k in ipairs(util.sorted_keys(run.params_values)) do
      local v = run.params_values[k]
      if type(v) == "number" then
        v = util.format_number(v)
      end
      parts[#parts + 1] = k .. "=" .. tostring(v)
    end
    add("params", table.concat(parts, " "))
  end
  add("lattice", describe(opts.lattice))
  add("model", describe(opts.model))
  if opts.meta then
    for _, k in ipairs(util.sorted_keys(opts.meta)) do add(k, opts.meta[k]) end
  end
  return keys, vals
end

-- ---- writer ---------------------------------------------------------------

local Writer = {}
Writer.__index = Writer

local open_spec = {
  fields  = { type = "table", required = true, doc = "list of { name=, type=, width=|shape=, states= }" },
  lattice = { type = "any", doc = "lattice (or a string) recorded in the header" },
  model   = { type = "any", doc = "model (or a string) recorded in the header" },
  meta    = { type = "table", doc = "extra header entries, string -> string" },
  level   = { type = "integer", default = 3, doc = "zstd level" },
  workers = { type = "integer", default = 0, check = function(v) return v >= 0, "must be >= 0" end },
  chunk   = { type = "integer", default = 0, check = function(v) return v >= 0, "must be >= 0" end,
              doc = "records per chunk (0: about 1 MiB)" },
  sync    = { type = "boolean", default = false, doc = "fdatasync after every chunk" },
  append  = { type = "boolean", default = false, doc = "append to an existing dump (resume)" },
}

function M.open(path, opts)
  util.check_arg(type(path) == "string", "tp.dump.open: path must be a string")
  local o = util.options("tp.dump.open", opts, open_spec)
  local specs = {}
  for i, f in ipairs(o.fields) do specs[i] = field_spec(i, f) end
  if #specs == 0 then util.raise("tp.dump.open: at least one field is needed") end
  local cf, anchors = to_cfields(specs)
  local keys, vals = M.run_metadata(o)
  local ck = ffi.new("const char*[?]", #keys + 1)
  local cv = ffi.new("const char*[?]", #keys + 1)
  for i = 1, #keys do ck[i - 1], cv[i - 1] = keys[i], vals[i] end
  local copts = ffi.new("tp_dump_opts")
  copts.level, copts.workers, copts.chunk_records = o.level, o.workers, o.chunk
  copts.sync, copts.append = o.sync and 1 or 0, o.append and 1 or 0
  local h = C.tp_dump_writer_open(path, cf, #specs, ck, cv, #keys, copts)
  util.check_ptr(h)
  -- a writer left open is closed (flushed) when collected or at exit, so
  -- an error or Ctrl-C in the recipe keeps the buffered records too
  h = ffi.gc(h, C.tp_dump_writer_close)
  local w = setmetatable({ path = path, fields = specs, _h = h, _anchors = anchors }, Writer)
  w._ptrs = ffi.new("const void*[?]", #specs)
  w._scratch = {}
  for i, s in ipairs(specs) do
    if s.type ~= "config" then w._scratch[i] = ffi.new(CTYPES[TYPES[s.type]], s.width) end
  end
  return w
end

local function handle(w)
  if not w._h then util.raise("dump %s is closed", w.path) end
  return w._h
end

-- w:append{ name = value, ... }: one record.  Numbers for width-1 fields,
-- tables (1-based) or cdata arrays for wider ones; a config is a uint8_t
-- (or int8_t) array of width sites, or a Lua table.
function Writer:append(rec)
  local h = handle(self)
  if type(rec) ~= "table" then util.raise("dump:append expects a table of field values") end
  for i, s in ipairs(self.fields) do
    local v = rec[s.name]
    if v == nil then util.raise("dump:append: field '%s' is missing", s.name) end
    local tv = type(v)
    if tv == "cdata" then
      self._ptrs[i - 1] = ffi.cast(voidp, v)
    else
      local buf = self._scratch[i]
      if s.type == "config" then
        if tv ~= "table" then util.raise("dump:append: field '%s' expects a uint8_t array or a table", s.name) end
        if not buf then buf = ffi.new("uint8_t[?]", s.width); self._scratch[i] = buf end
      end
      if tv == "number" then
        if s.width ~= 1 then util.raise("dump:append: field '%s' has width %d: give a table or an array", s.name, s.width) end
        buf[0] = v
      elseif tv == "table" then
        if #v ~= s.width then util.raise("dump:append: field '%s' expects %d values, got %d", s.name, s.width, #v) end
        for k = 1, s.width do buf[k - 1] = v[k] end
      else
        util.raise("dump:append: field '%s' got a %s", s.name, tv)
      end
      self._ptrs[i - 1] = buf
    end
  end
  util.check(C.tp_dump_writer_append(h, 1, self._ptrs))
end

-- w:append_batch(n, { name = array, ... }): n records from arrays holding
-- n*width values each (configs: uint8_t, n*width sites, record-major).
function Writer:append_batch(n, cols)
  local h = handle(self)
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n), "dump:append_batch: n must be a count")
  util.check_arg(type(cols) == "table", "dump:append_batch: expects a table of arrays")
  for i, s in ipairs(self.fields) do
    local v = cols[s.name]
    if type(v) ~= "cdata" then util.raise("dump:append_batch: field '%s' needs an FFI array", s.name) end
    util.check_count("dump:append_batch", "field '" .. s.name .. "'", v, n * s.width, ESIZE[TYPES[s.type]])
    self._ptrs[i - 1] = ffi.cast(voidp, v)
  end
  util.check(C.tp_dump_writer_append(h, n, self._ptrs))
end

function Writer:flush() util.check(C.tp_dump_writer_flush(handle(self))) end
function Writer:records() return tonumber(C.tp_dump_writer_records(handle(self))) end
function Writer:records_written() return tonumber(C.tp_dump_writer_records_written(handle(self))) end
function Writer:chunks() return tonumber(C.tp_dump_writer_chunks(handle(self))) end
function Writer:bytes() return tonumber(C.tp_dump_writer_bytes(handle(self))) end

function Writer:close()
  local h = self._h
  if not h then return end
  self._h = nil
  ffi.gc(h, nil)
  util.check(C.tp_dump_writer_close(h))
end
Writer.__tostring = function(w)
  return string.format("tp.dump writer %s (%s)", w.path, w._h and (w:records() .. " records") or "closed")
end

-- ---- reader ---------------------------------------------------------------

local Reader = {}
Reader.__index = Reader
local Chunk = {}
Chunk.__index = Chunk

-- tp.dump.read(path) -> reader, or nil, msg if the file is missing or its
-- header is unreadable.
function M.read(path)
  util.check_arg(type(path) == "string", "tp.dump.read: path must be a string")
  local h = C.tp_dump_reader_open(path)
  if h == nil then return nil, errmsg() end
  h = ffi.gc(h, C.tp_dump_reader_free)
  local d = setmetatable({ path = path, _h = h, version = tonumber(C.tp_dump_reader_version(h)),
                           size = tonumber(C.tp_dump_reader_file_size(h)) }, Reader)
  d.fields, d.field_index = {}, {}
  for i = 0, C.tp_dump_reader_nfields(h) - 1 do
    local f = from_cfield(C.tp_dump_reader_field(h, i))
    f.index = i
    d.fields[i + 1] = f
    d.field_index[f.name] = f
  end
  d.meta, d.meta_keys = {}, {}
  local len = ffi.new("size_t[1]")
  for i = 0, C.tp_dump_reader_nmeta(h) - 1 do
    local k = ffi.string(C.tp_dump_reader_meta_key(h, i))
    local v = C.tp_dump_reader_meta_value(h, i, len)
    d.meta[k] = ffi.string(v, len[0])
    d.meta_keys[#d.meta_keys + 1] = k
  end
  return d
end

local function rhandle(d)
  if not d._h then util.raise("dump %s is closed", d.path) end
  return d._h
end

function Reader:field(name)
  local f = self.field_index[name]
  if not f then
    local names = {}
    for _, g in ipairs(self.fields) do names[#names + 1] = g.name end
    util.raise("dump %s has no field '%s' (fields: %s)", self.path, tostring(name), table.concat(names, ", "))
  end
  return f
end

-- Advance to the next chunk: a Chunk, or nil at the end or at damage
-- (then self.error, self.error_offset, self.error_frame say where).  At a
-- clean end self.complete tells whether the writer closed the dump (false:
-- it was killed, or the file was cut at a chunk boundary).
function Reader:next_chunk()
  local h = rhandle(self)
  local got = ffi.new("int32_t[1]")
  local st = C.tp_dump_reader_next(h, got)
  if st ~= 0 then
    self.error = errmsg()
    self.error_offset = tonumber(C.tp_dump_reader_error_offset(h))
    self.error_frame = tonumber(C.tp_dump_reader_error_frame(h))
    return nil
  end
  if got[0] == 0 then
    self.complete = C.tp_dump_reader_complete(h) ~= 0
    return nil
  end
  return setmetatable({ reader = self, index = tonumber(C.tp_dump_chunk_index(h)),
    first = tonumber(C.tp_dump_chunk_first(h)), n = tonumber(C.tp_dump_chunk_records(h)),
    compressed = tonumber(C.tp_dump_chunk_compressed(h)), offset = tonumber(C.tp_dump_chunk_offset(h)) }, Chunk)
end

-- for c in d:chunks() do ... end  (from the current position)
function Reader:chunks()
  return function() return self:next_chunk() end
end

function Reader:rewind()
  util.check(C.tp_dump_reader_rewind(rhandle(self)))
  self.error, self.error_offset, self.error_frame, self.complete = nil, nil, nil, nil
end

-- After damage (self.error set): skip to the next intact-looking chunk so
-- the chunks after the damage can be salvaged.  true if one was found (then
-- iterate on; c.first shows the records lost), false if none.
function Reader:resync()
  local found = ffi.new("int32_t[1]")
  util.check(C.tp_dump_reader_resync(rhandle(self), found))
  if found[0] == 0 then return false end
  self.error, self.error_offset, self.error_frame = nil, nil, nil
  return true
end

-- Make chunk k (0-based) the next one, hopping over the index.
function Reader:seek(k)
  util.check_arg(type(k) == "number" and k >= 0, "dump:seek expects a chunk number >= 0")
  self.error = nil
  local st = C.tp_dump_reader_seek(rhandle(self), k)
  if st ~= 0 then
    self.error = errmsg()
    return nil, self.error
  end
  return true
end

-- c:get(name [, out [, first, count]]) -> the field's values for this chunk
-- (or for its records first..first+count-1, 0-based): an FFI array of
-- count*width values (configs: uint8_t per site), 0-based.  A chunk may
-- unpack to far more than it takes on disk; take big ones a slice at a
-- time.  Only valid until the reader moves on.
function Chunk:get(name, out, first, count)
  local d = self.reader
  local f = d:field(name)
  first = first or 0
  count = count or self.n - first
  util.check_arg(first == math.floor(first) and count == math.floor(count) and first >= 0 and count >= 0
    and first + count <= self.n, "chunk:get: records %s..%s are outside the chunk's %d", tostring(first),
    tostring(first + count), self.n)
  local n = count * f.width
  out = out or ffi.new(CTYPES[TYPES[f.type]], math.max(n, 1))
  util.check(C.tp_dump_chunk_get_range(rhandle(d), f.index, first, count, out, ffi.sizeof(out)))
  return out
end

-- d:load{ names... } (default: every field) -> t, err.  Reads the chunks
-- from the start: t.n records, t[name] = FFI array of t.n*width values.
-- err is nil, or the damage message (t then holds every intact chunk).
function Reader:load(names)
  local h = rhandle(self)
  if names == nil then
    names = {}
    for i, f in ipairs(self.fields) do names[i] = f.name end
  end
  util.check_arg(type(names) == "table", "dump:load expects a list of field names")
  local fs = {}
  for i, name in ipairs(names) do fs[i] = self:field(name) end
  self:rewind()
  local t, cap = { n = 0 }, 0
  local u8 = ffi.typeof("uint8_t*")
  for c in self:chunks() do
    if t.n + c.n > cap then
      local ncap = math.max(2 * cap, t.n + c.n, 1024)
      for _, f in ipairs(fs) do
        local a = ffi.new(CTYPES[TYPES[f.type]], ncap * f.width)
        if t[f.name] then ffi.copy(a, t[f.name], t.n * f.width * ESIZE[TYPES[f.type]]) end
        t[f.name] = a
      end
      cap = ncap
    end
    for _, f in ipairs(fs) do
      local a = t[f.name]
      local off = t.n * f.width * ESIZE[TYPES[f.type]]
      util.check(C.tp_dump_chunk_get(h, f.index, ffi.cast(u8, a) + off, cap * f.width * ESIZE[TYPES[f.type]] - off))
    end
    t.n = t.n + c.n
  end
  for _, f in ipairs(fs) do
    if not t[f.name] then t[f.name] = ffi.new(CTYPES[TYPES[f.type]], 1) end
  end
  return t, self.error
end

function Reader:close()
  local h = self._h
  if not h then return end
  self._h = nil
  ffi.gc(h, nil)
  C.tp_dump_reader_free(h)
end
Reader.__tostring = function(d) return string.format("tp.dump reader %s", d.path) end

-- tp.dump.csv(path [, fields [, out]]): write CSV (C does the work).
function M.csv(path, fields, out)
  util.check_arg(type(path) == "string", "tp.dump.csv: path must be a string")
  if type(fields) == "table" then fields = table.concat(fields, ",") end
  io.stdout:flush()
  util.check(C.tp_dump_csv(path, fields, out))
end

util.doc(M, [==[
tp.dump -- sample dumps (.tpd): zstd-compressed, self-describing, crash-safe.
  w = tp.dump.open(path, { fields = {...}, lattice=, model=, meta=,
                           level=3, workers=0, chunk=0, sync=false, append=false })
      fields: { name=, type="f64"|"f32"|"i32"|"i64"|"config", width= or shape=,
                states= (configs: 2..256) }
  w:append{ name = value, ... }   w:append_batch(n, { name = array })
  w:flush()  w:close()  w:records()  w:chunks()  w:bytes()
  d, err = tp.dump.read(path)     d.meta, d.fields, d.meta_keys
  for c in d:chunks() do c:get(name) end     d.error after damage
  t, err = d:load{ names }        d:seek(k)  d:rewind()  d:resync() after damage
  tp.dump.csv(path [, fields [, out]])
See tempera-dump(5) and 'tempera dump'.]==])
util.doc(M.open, "tp.dump.open(path, opts) -> writer (see help(tp.dump))")
util.doc(M.read, "tp.dump.read(path) -> reader, or nil, msg if missing or unreadable")

return M
