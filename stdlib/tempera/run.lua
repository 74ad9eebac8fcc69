-- tempera.run: the state of this run -- command-line settings, the seed,
-- the declared parameters, and the output directory.  The seed is always
-- printed once (with the parameters) and recorded in the output directory.
local F = require "tempera.ffi"
local util = require "tempera.util"
local C = F.C

local cli = package.loaded["tempera.cli"] or {}

local M = {
  cli = cli,
  params = nil,        -- the table returned by tp.params, once called
  seed_source = nil,   -- "--seed", "recipe" or "default"
}

local DEFAULT_SEED = 1
local seed_value
local announced = false

-- The run's seed: --seed, else the recipe's params{seed=...}, else 1.
function M.seed()
  if seed_value == nil then
    if cli.seed then
      seed_value, M.seed_source = cli.seed, "--seed"
    else
      seed_value, M.seed_source = DEFAULT_SEED, "default"
    end
  end
  return seed_value
end

function M.set_seed(s, source)
  seed_value, M.seed_source = s, source
end

local function quiet()
  return cli.quiet
end

-- Print "# seed: N" once unless params already printed it.
function M.announce_seed()
  if announced then return end
  announced = true
  io.stdout:write(string.format("# seed: %d (%s)\n", M.seed(), M.seed_source))
end

function M.mark_announced() announced = true end

local out_ready = false
-- Path of name inside the output directory (--out DIR, default "."),
-- creating the directory and recording the run there on first use.
function M.out(name)
  util.check_arg(name == nil or (type(name) == "string" and name ~= "" and name:sub(-1) ~= "/"),
    "tp.out: expects a file name (or nothing, for the directory), got %s", type(name) == "string" and string.format("%q", name) or tostring(name))
  local dir = cli.out or "."
  if not out_ready then
    out_ready = true
    if cli.out then
      util.check(C.tp_mkdir_p(dir))
      M.record()
    end
  end
  if name == nil then return dir end
  return dir .. "/" .. name
end

-- Write DIR/run.txt (version, recipe, seed, params) and DIR/recipe.lua.
function M.record()
  if not cli.out then return end
  local dir = cli.out
  -- the recipe first, then run.txt that describes it: a failure (a full
  -- disk) leaves the previous pair as it was, not a new run.txt beside an
  -- old recipe
  if cli.recipe_text then
    local r = util.open_write(dir .. "/recipe.lua")
    r:write(cli.recipe_text)
    r:close()
  end
  local f = util.open_write(dir .. "/run.txt")
  f:write("tempera ", require("ffi").string(C.tp_version()), "\n")
  f:write("recipe ", cli.recipe or "(none)", "\n")
  f:write("seed ", string.format("%d", M.seed()), " (", M.seed_source or "default", ")\n")
  f:write("threads ", tonumber(C.tp_threads_get()), "\n")
  -- under mpirun: the number of processes (a one-process run has no line)
  if C.tp_mpi_size() > 1 then f:write("ranks ", tonumber(C.tp_mpi_size()), "\n") end
  if M.params then
    for _, k in ipairs(util.sorted_keys(M.params_values)) do
      local v = M.params_values[k]
      -- numbers as the shortest text that reads back as the same number
      f:write("param ", k, " ", type(v) == "number" and util.format_number(v) or tostring(v), "\n")
    end
  end
  f:close()
end

M.quiet = quiet
return M
