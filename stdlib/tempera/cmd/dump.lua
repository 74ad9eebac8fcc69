-- tempera.cmd.dump: 'tempera dump info|head|csv|verify|recipe FILE'.
-- Inspect sample dumps (tempera-dump(5)); the C reader does the work.
-- Exit status: 0 ok, 1 unreadable or damaged dump, 2 usage error.
local dump = require "tempera.dump"
local F = require "tempera.ffi"
local C, ffi = F.C, F.ffi

local M = {}

local USAGE = [[
usage: tempera dump info FILE               metadata, fields, counts, compression
       tempera dump head FILE [-n N]        the first N records (default 3)
       tempera dump csv FILE [--fields a,b] [-o OUT]
       tempera dump verify FILE             check every byte; exit 1 if damaged
       tempera dump recipe FILE             print the recipe that wrote the dump]]

local function usage(msg)
  if msg then io.stderr:write("tempera dump: ", msg, "\n") end
  io.stderr:write(USAGE, "\n")
  return 2
end

local function open(path)
  local d, err = dump.read(path)
  if not d then io.stderr:write("tempera: ", err, "\n") end
  return d
end

local function type_text(f)
  local shape = f.shape and table.concat(f.shape, "x") or tostring(f.width)
  if f.type == "config" then
    local bits = f.states == 2 and "1 bit" or f.states <= 4 and "2 bits" or "8 bits"
    return string.format("config %s, %d states (%s per site)", shape, f.states, bits)
  end
  if f.width == 1 then return f.type end
  return string.format("%s[%s]", f.type, shape)
end

local ESIZE = { f64 = 8, f32 = 4, i32 = 4, i64 = 8, config = 1 }
local function packed_bytes(f)
  if f.type ~= "config" then return ESIZE[f.type] * f.width end
  local b = f.states == 2 and 1 or f.states <= 4 and 2 or 8
  return math.ceil(f.width * b / 8)
end

-- walk every chunk -> stats.  The reader checks every byte of each chunk
-- (hashes, zstd checksums, every configuration value) without unpacking it,
-- so memory stays bounded whatever a chunk claims to hold.
local function scan(d)
  local s = { chunks = 0, records = 0, compressed = 0 }
  for c in d:chunks() do
    s.chunks, s.records, s.compressed = s.chunks + 1, s.records + c.n, s.compressed + c.compressed
  end
  return s
end

local function recipe_hash_ok(d)
  local text, want = d.meta.recipe, d.meta.recipe_sha256
  if not text or not want then return nil end
  local hex = ffi.new("char[65]")
  C.tp_sha256_hex(text, #text, hex)
  return ffi.string(hex) == want
end

local function info(path)
  local d = open(path)
  if not d then return 1 end
  local s = scan(d)
  local out = io.stdout
  out:write("dump: ", path, "\n")
  out:write(string.format("format: tempera dump version %d, %d bytes, %s\n", d.version, d.size,
    C.tp_dump_being_written(path) == 1 and "still being written" or d.error and "DAMAGED"
      or d.complete and "closed by its writer" or "not closed (writer killed or still running)"))
  out:write(string.format("records: %d\nchunks: %d\n", s.records, s.chunks))
  out:write("fields:\n")
  local unpacked, packed = 0, 0
  for _, f in ipairs(d.fields) do
    out:write(string.format("  %-16s %s\n", f.name, type_text(f)))
    unpacked = unpacked + ESIZE[f.type] * f.width
    packed = packed + packed_bytes(f)
  end
  unpacked, packed = unpacked * s.records, packed * s.records
  if s.records > 0 then
    out:write(string.format("compression: records take %d bytes unpacked (1 byte per site), %d bit-packed, " ..
      "%d in compressed chunks: ratio %.2f vs unpacked, %.2f vs bit-packed\n", unpacked, packed, s.compressed,
      unpacked / math.max(s.compressed, 1), packed / math.max(s.compressed, 1)))
  else
    out:write("compression: no records\n")
  end
  out:write("metadata:\n")
  for _, k in ipairs(d.meta_keys) do
    local v = d.meta[k]
    if k == "recipe" then
      local lines = select(2, v:gsub("\n", "")) + (v:sub(-1) == "\n" and 0 or 1)
      local ok = recipe_hash_ok(d)
      v = string.format("%d lines%s ('tempera dump recipe' prints it)", lines,
        ok == nil and "" or ok and ", hash ok" or ", HASH MISMATCH")
    elseif v:find("\n") then
      v = v:gsub("\n", "\n    ")
    end
    out:write(string.format("  %s: %s\n", k, v))
  end
  if d.error then
    out:write("damage: ", d.error, "\n")
    return 1
  end
  return 0
end

local GLYPH = "0123456789abcdefghijklmnopqrstuvwxyz"

local function picture(out, f, a, base)
  local function glyph(v)
    if f.states == 2 then return v == 0 and "." or "#" end
    if f.states <= 36 then return GLYPH:sub(v + 1, v + 1) end
    return string.format("%02x", v)
  end
  local shape = f.shape or { f.width }
  if #shape == 1 then
    local s = {}
    for i = 0, f.width - 1 do s[#s + 1] = glyph(a[base + i]) end
    out:write("    ", table.concat(s, f.states > 36 and " " or ""), "\n")
    return
  end
  -- 2-D: rows; higher: the leading dimensions as slices side by side
  local rows, cols = shape[#shape - 1], shape[#shape]
  local slices = math.floor(f.width / (rows * cols))
  for r = 0, rows - 1 do
    local line = {}
    for sl = 0, slices - 1 do
      local s = {}
      for c = 0, cols - 1 do s[#s + 1] = glyph(a[base + sl * rows * cols + r * cols + c]) end
      line[#line + 1] = table.concat(s, f.states > 36 and " " or "")
    end
    out:write("    ", table.concat(line, "  "), "\n")
  end
end

local function value_text(f, a, base)
  local vals = {}
  for j = 0, f.width - 1 do
    local v = a[base + j]
    if f.type == "f64" then vals[#vals + 1] = string.format("%.17g", v)
    elseif f.type == "f32" then vals[#vals + 1] = string.format("%.9g", v)
    elseif f.type == "i64" then vals[#vals + 1] = (tostring(v):gsub("[UL]+$", ""))
    else vals[#vals + 1] = tostring(tonumber(v)) end
  end
  if f.width == 1 then return vals[1] end
  return "{ " .. table.concat(vals, ", ") .. " }"
end

local function head(path, n)
  local d = open(path)
  if not d then return 1 end
  local out, shown = io.stdout, 0
  if n == 0 then return 0 end
  for c in d:chunks() do
    local cols, take = {}, math.min(c.n, n - shown)   -- unpack only the records shown
    for _, f in ipairs(d.fields) do cols[f.name] = c:get(f.name, nil, 0, take) end
    for k = 0, take - 1 do
      out:write(string.format("record %d (chunk %d)\n", c.first + k, c.index))
      for _, f in ipairs(d.fields) do
        local a = cols[f.name]
        if f.type == "config" then
          out:write(string.format("  %s (%s):\n", f.name, type_text(f)))
          picture(out, f, a, k * f.width)
        else
          out:write(string.format("  %s = %s\n", f.name, value_text(f, a, k * f.width)))
        end
      end
      shown = shown + 1
    end
    if shown >= n then return 0 end
  end
  if d.error then
    io.stderr:write("tempera: ", path, ": ", d.error, "\n")
    return 1
  end
  return 0
end

local function verify(path)
  local d = open(path)
  if not d then return 1 end
  local s = scan(d)
  local hash_ok = recipe_hash_ok(d)
  if d.error then
    local lines = {}
    lines[1] = string.format("%s: DAMAGED: %s\n", path, d.error)
    lines[2] = string.format("%s: intact before the damage: %d chunks, %d records\n", path, s.chunks, s.records)
    -- what can be salvaged after it
    local more, regions = { chunks = 0, records = 0 }, 1
    local found = false
    while d:resync() do
      found = true
      local t = scan(d)
      more.chunks, more.records = more.chunks + t.chunks, more.records + t.records
      if not d.error then break end
      regions = regions + 1
      lines[#lines + 1] = string.format("%s: DAMAGED: %s\n", path, d.error)
    end
    if not found and C.tp_dump_being_written(path) == 1 then
      -- only the end is torn and a writer holds the lock: its writer at work
      io.stdout:write(string.format("%s: still being written: %d chunks, %d records so far, every one intact\n",
        path, s.chunks, s.records))
      return 0
    end
    lines[#lines + 1] = string.format("%s: intact after the damage: %d chunks, %d records (%d damaged region%s)\n",
      path, more.chunks, more.records, regions, regions > 1 and "s" or "")
    io.stdout:write(table.concat(lines))
    return 1
  end
  if hash_ok == false then
    io.stdout:write(path, ": DAMAGED: the recipe text does not match its recorded SHA-256\n")
    return 1
  end
  io.stdout:write(string.format("%s: ok: %d chunks, %d records, %d bytes%s\n", path, s.chunks, s.records, d.size,
    d.complete and "" or "; not closed by its writer (killed, or still running): every chunk in it is intact"))
  return 0
end

local function recipe(path)
  local d = open(path)
  if not d then return 1 end
  local text = d.meta.recipe
  if not text then
    io.stderr:write("tempera: ", path, ": no recipe recorded (written outside 'tempera run')\n")
    return 1
  end
  io.stdout:write(text)
  return 0
end

function M.main(sub, path, ...)
  if sub == nil then return usage() end
  if sub == "-h" or sub == "--help" or sub == "help" then
    io.stdout:write(USAGE, "\n")
    return 0
  end
  local cmds = { info = true, head = true, csv = true, verify = true, recipe = true }
  if not cmds[sub] then return usage("unknown subcommand '" .. tostring(sub) .. "'") end
  if path == nil then return usage("missing FILE") end
  local rest = { ... }
  if sub == "head" then
    local n = 3
    local i = 1
    while i <= #rest do
      if rest[i] == "-n" then
        n = tonumber(rest[i + 1])
        if not n or n < 0 or n ~= math.floor(n) then return usage("-n expects a count") end
        i = i + 2
      else
        return usage("unknown option '" .. rest[i] .. "'")
      end
    end
    return head(path, n)
  elseif sub == "csv" then
    local fields, out
    local i = 1
    while i <= #rest do
      if rest[i] == "--fields" and rest[i + 1] then fields, i = rest[i + 1], i + 2
      elseif rest[i] == "-o" and rest[i + 1] then out, i = rest[i + 1], i + 2
      else return usage("unknown option '" .. rest[i] .. "'") end
    end
    io.stdout:flush()
    local st = C.tp_dump_csv(path, fields, out)
    if st ~= 0 then
      io.stderr:write("tempera: ", ffi.string(C.tp_last_error()), "\n")
      return 1
    end
    return 0
  end
  if #rest > 0 then return usage("unexpected argument '" .. rest[1] .. "'") end
  if sub == "info" then return info(path) end
  if sub == "verify" then return verify(path) end
  return recipe(path)
end

return M
