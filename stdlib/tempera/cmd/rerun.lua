-- tempera.cmd.rerun: 'tempera rerun DIR|DUMP [-o NEWDIR]' reproduces a run
-- someone shared.  From a run directory (written with --out: run.txt and
-- recipe.lua) or a dump (its header carries the recipe text, seed and
-- parameters), it runs the recorded recipe text with the recorded
-- parameters, seed and thread count into NEWDIR (default DIR-rerun, or the
-- dump's name with -rerun), checks the tempera version, and compares every
-- output file with the original: bit for bit, except the lines that name
-- where and when (run.txt's recipe path; a dump's creation time and recipe
-- file name, whose records and every other header entry must agree).
-- Exit status: 0 every file identical, 1 some differ (listed) or the run
-- failed, 2 usage error.
local M = {}

local USAGE = "usage: tempera rerun DIR|DUMP [-o NEWDIR]"

local util = require "tempera.util"
local shq = util.shell_quote

-- the path of this tempera binary (the rerun uses the same one)
local function self_exe()
  local ffi = require("tempera.ffi").ffi
  pcall(ffi.cdef, "long readlink(const char *path, char *buf, size_t size);")
  local buf = ffi.new("char[4096]")
  local n = ffi.C.readlink("/proc/self/exe", buf, 4095)
  return n > 0 and ffi.string(buf, n) or "tempera"
end

local read_file = util.read_file

-- every file under dir, as paths relative to it, sorted
local function list_files(dir)
  local out = {}
  local p = io.popen("cd " .. shq(dir) .. " && find . -type f 2>/dev/null | LC_ALL=C sort")
  if p then
    for l in p:lines() do out[#out + 1] = l:gsub("^%./", "") end
    p:close()
  end
  return out
end

-- the recorded run: { recipe_text, seed, threads, params = { {k, v}, ... }, version }
local function from_dir(dir)
  local txt = read_file(dir .. "/run.txt")
  if not txt then return nil, dir .. "/run.txt: not found (a run directory is written with --out)" end
  local r = { params = {}, dir = dir }
  for line in txt:gmatch("[^\n]+") do
    local k, v = line:match("^(%S+)%s+(.*)$")
    if k == "tempera" then r.version = v
    elseif k == "seed" then r.seed = v:match("^(%-?%d+)")
    elseif k == "threads" then r.threads = tonumber(v)
    elseif k == "ranks" then r.ranks = tonumber(v)
    elseif k == "recipe" then r.recipe_file = v
    elseif k == "param" then
      local name, val = v:match("^(%S+)%s?(.*)$")
      r.params[#r.params + 1] = { name, val }
    end
  end
  r.recipe_text = read_file(dir .. "/recipe.lua")
  if not r.recipe_text then return nil, dir .. "/recipe.lua: not found" end
  return r
end

local function from_dump(path)
  local d, err = require("tempera.dump").read(path)
  if not d then return nil, err end
  local m = d.meta
  d:close()
  if not m.recipe then return nil, path .. ": no recipe recorded (written outside 'tempera run')" end
  local r = { params = {}, recipe_text = m.recipe, seed = m.seed, version = m.tempera, threads = tonumber(m.threads),
    ranks = tonumber(m.ranks), recipe_file = m.recipe_file, dump = path }
  -- "k=v k=v": names are identifiers; a value runs to the next " name=" (or the end)
  local s = m.params or ""
  local pos = 1
  while pos <= #s do
    local name, eq = s:match("^([%a_][%w_]*)=()", pos)
    if not name then break end
    local nxt = s:find(" [%a_][%w_]*=", eq)
    local val = s:sub(eq, (nxt or (#s + 1)) - 1)
    r.params[#r.params + 1] = { name, val }
    pos = nxt and nxt + 1 or #s + 1
  end
  return r
end

-- equal dumps: the same records and the same header, creation time and
-- recipe file name apart
local IGNORED_META = { created = true, recipe_file = true }
local function same_dump(a, b)
  local dump = require "tempera.dump"
  local da, db = dump.read(a), dump.read(b)
  if not da or not db then return false, "unreadable" end
  local why
  for _, k in ipairs(da.meta_keys) do
    if not IGNORED_META[k] and da.meta[k] ~= db.meta[k] then why = "header entry '" .. k .. "'" end
  end
  if #da.fields ~= #db.fields then why = why or "fields" end
  if not why then
    local ffi = require("tempera.ffi").ffi
    while true do
      local ca, cb = da:next_chunk(), db:next_chunk()
      if not ca or not cb then
        if ca or cb then why = "number of chunks" end
        break
      end
      if ca.n ~= cb.n then why = "chunk sizes"; break end
      for _, f in ipairs(da.fields) do
        local x, y = ca:get(f.name), cb:get(f.name)
        if ffi.sizeof(x) ~= ffi.sizeof(y) or ffi.string(x, ffi.sizeof(x)) ~= ffi.string(y, ffi.sizeof(y)) then
          why = "field '" .. f.name .. "' in chunk " .. ca.index
          break
        end
      end
      if why then break end
    end
    if not why and (da.error or db.error) then why = "damage: " .. tostring(da.error or db.error) end
  end
  da:close()
  db:close()
  return why == nil, why
end

-- run.txt without what a rerun changes by design: the recipe's path and
-- where the seed came from (the rerun passes the recorded seed as --seed)
local function without_recipe_line(s)
  return (s:gsub("\nrecipe [^\n]*\n", "\n"):gsub("\nseed (%-?%d+) %([^\n]*%)\n", "\nseed %1\n"))
end

function M.main(...)
  local src, o = require("tempera.util").command_args("rerun", USAGE, "DIR or DUMP", { ... },
    { ["-o"] = "out", ["--out"] = "out" })
  if not src then return o end
  local out = o.out
  local C, ffi = require("tempera.ffi").C, require("tempera.ffi").ffi
  local isdir = C.tp_is_dir(src) ~= 0
  local rec, err
  if isdir then rec, err = from_dir((src:gsub("/+$", ""))) else rec, err = from_dump(src) end
  if not rec then
    io.stderr:write("tempera rerun: ", err, "\n")
    return 1
  end
  local base = isdir and src:gsub("/+$", "") or src:gsub("%.tpd$", "")
  out = out or (base .. "-rerun")
  if C.tp_is_dir(out) ~= 0 and #list_files(out) > 0 then
    io.stderr:write("tempera rerun: ", out, " already holds files; give another -o NEWDIR\n")
    return 2
  end
  local version = ffi.string(C.tp_version())
  if rec.version and rec.version ~= version then
    io.stderr:write(string.format("tempera rerun: warning: the run was made by tempera %s, this is %s; " ..
      "bit-identical results are promised for the same version\n", rec.version, version))
  end
  util.check(C.tp_mkdir_p(out))
  -- the recipe text goes beside the outputs' directory, not into it
  local recipe = out .. ".recipe.lua"
  local f = util.open_write(recipe)
  f:write(rec.recipe_text)
  f:close()
  local cmd = { shq(self_exe()), "run", shq(recipe), "--out", shq(out) }
  local launcher = ""
  if rec.ranks and rec.ranks > 1 then
    -- the run had several MPI processes: the same number again
    local p = io.popen("command -v mpirun 2>/dev/null")
    local mpirun = p and p:read("*l")
    if p then p:close() end
    if not mpirun or mpirun == "" then
      io.stderr:write(string.format("tempera rerun: the run used %d MPI ranks and mpirun is not here; running one " ..
        "process (metadynamics is bit-identical, data-parallel training equal to float tolerance)\n", rec.ranks))
    else
      launcher = string.format("%s --allow-run-as-root --oversubscribe -np %d ", shq(mpirun), rec.ranks)
    end
  end
  if rec.seed then cmd[#cmd + 1] = "--seed " .. shq(rec.seed) end
  if rec.threads then cmd[#cmd + 1] = "--threads " .. shq(rec.threads) end
  for _, kv in ipairs(rec.params) do
    if kv[1] ~= "seed" then cmd[#cmd + 1] = "--set " .. shq(kv[1] .. "=" .. kv[2]) end
  end
  local line = table.concat(cmd, " ")
  io.stdout:write("tempera rerun: ", launcher ~= "" and string.format("mpirun -np %d ", rec.ranks) or "",
    (line:gsub("^'[^']*'", "tempera")), "\n")
  io.stdout:flush()
  local okrun = os.execute(launcher .. line)
  os.remove(recipe)
  if not (okrun == 0 or okrun == true) then
    io.stderr:write("tempera rerun: the recipe failed (above); nothing compared\n")
    return 1
  end
  -- compare
  local pairs_ = {}
  if isdir then
    for _, name in ipairs(list_files(rec.dir)) do pairs_[#pairs_ + 1] = { rec.dir .. "/" .. name, out .. "/" .. name, name } end
  else
    -- the dump itself: the rerun's dump of the same file name, wherever tp.out put it
    local name = src:match("([^/]+)$")
    pairs_[1] = { src, out .. "/" .. name, name }
  end
  local same, differ = 0, {}
  for _, pr in ipairs(pairs_) do
    local a, b, name = pr[1], pr[2], pr[3]
    local ok, why
    if not read_file(b) then
      ok, why = false, "not written by the rerun"
    elseif name:match("%.tpd$") then
      ok, why = same_dump(a, b)
    elseif name == "run.txt" then
      ok = without_recipe_line(read_file(a)) == without_recipe_line(read_file(b))
    else
      ok = read_file(a) == read_file(b)
    end
    if ok then same = same + 1 else differ[#differ + 1] = name .. (why and (" (" .. why .. ")") or "") end
  end
  if #differ == 0 then
    io.stdout:write(string.format("tempera rerun: %d file%s bit-identical to %s (in %s)\n", same,
      same == 1 and "" or "s", src, out))
    return 0
  end
  io.stdout:write(string.format("tempera rerun: %d file%s identical, %d differ:\n", same, same == 1 and "" or "s",
    #differ))
  for _, d in ipairs(differ) do io.stdout:write("  ", d, "\n") end
  return 1
end

return M
