-- tempera: the recipe library.   local tp = require "tempera"
-- Core functions live here; submodules (tp.lattice, tp.model, tp.cv, ...)
-- load on first use.  Unknown names are errors, so a typo in a recipe is
-- reported at its line instead of surfacing later as "a nil value".
local host = require "tempera.host"
local F = require "tempera.ffi"
local util = require "tempera.util"
local run = require "tempera.run"
local C, ffi = F.C, F.ffi

-- An MPI rank other than 0 (output muted, man tempera-mpi(7)): the files
-- the recipe writes go to this process's shadow copies (runtime/fs.c), and
-- reading a path takes its shadow when this process wrote one, so a recipe
-- that reads back its own file works on every rank while only rank 0
-- touches the real outputs.  Lua's own file functions follow the same rule.
if C.tp_io_muted() ~= 0 and not io._tempera_shadowed then
  local open, lines, remove, rename = io.open, io.lines, os.remove, os.rename
  local function rd(p) return type(p) == "string" and ffi.string(C.tp_io_read_path(p)) or p end
  local function wr(p) return type(p) == "string" and ffi.string(C.tp_io_shadow_path(p)) or p end
  io.open = function(p, mode, ...)
    if type(mode) == "string" and mode:find("[wa+]") then return open(wr(p), mode, ...) end
    return open(rd(p), mode, ...)
  end
  io.lines = function(p, ...)
    if p == nil then return lines() end
    return lines(rd(p), ...)
  end
  os.remove = function(p) return remove(wr(p)) end
  os.rename = function(a, b) return rename(wr(a), wr(b)) end
  io._tempera_shadowed = true
end

local tp = {}
tp.version = ffi.string(C.tp_version())
tp.params = require "tempera.params"
tp.rng = require "tempera.rng"
tp.progress = require "tempera.progress"
tp.util = util

function tp.seed() return run.seed() end
function tp.out(name) return run.out(name) end

-- Raise "interrupted" if Ctrl-C was pressed: call it in long Lua loops
-- (LuaJIT's interrupt hook does not fire inside compiled loops).
function tp.check_interrupt()
  if C.tp_interrupted() ~= 0 then util.check(1) end
end

-- Worker threads for CPU kernels: tp.threads() gets, tp.threads(n) sets.
function tp.threads(n)
  if n ~= nil then
    util.check_arg(type(n) == "number", "tp.threads expects a number")
    util.check(C.tp_threads_set(n))
  end
  return tonumber(C.tp_threads_get())
end

-- Usable backends now: { "cpu" } or { "cpu", "cuda" }.
function tp.backends()
  local b = { "cpu" }
  if C.tp_cuda_compiled() ~= 0 and C.tp_cuda_device_count() > 0 then b[#b + 1] = "cuda" end
  return b
end

function tp.help(x) return require("tempera.repl").help(x) end

-- Wall-clock seconds (monotonic) since an arbitrary origin: differences time
-- a recipe's phases.  Timings are printed, never used in computations.
function tp.clock() return C.tp_clock() end

util.doc(tp.seed, "tp.seed() -> the run's seed (--seed, else params.seed, else 1)")
util.doc(tp.out, "tp.out(name) -> path of name in the output directory (--out DIR, default .)")
util.doc(tp.params, [[
tp.params{ name = default, ... } -> P
  Declare the recipe's parameters.  --set name=value overrides a default
  (converted to the default's type: any finite number, boolean, string;
  tp.params.int(4) declares an integer, which refuses fractions);
  --seed N overrides P.seed.  Prints "# params: ..." with every value.
  Reading an undeclared P.name is an error.
tp.params(defaults, presets) -> P
  presets = { name = { param = value, ... }, ... }: defaults must declare
  preset = "name"; the chosen preset (--set preset=NAME) replaces those
  defaults before the other --set values apply.]])
util.doc(tp.threads, "tp.threads([n]) -> CPU worker threads (results never depend on it)")
util.doc(tp.backends, "tp.backends() -> list of usable backends, e.g. { 'cpu' }")
util.doc(tp.check_interrupt, "tp.check_interrupt() raises 'interrupted' after Ctrl-C")
util.doc(tp.clock, "tp.clock() -> monotonic wall-clock seconds (differences time a recipe's phases)")

util.doc(tp, [[
tempera -- lattice sampling recipes.  Core:
  tp.params{...}   parameters with --set overrides     tp.seed()
  tp.rng(stream)   Philox random streams                tp.progress{...}
  tp.out(name)     output paths (--out DIR)             tp.threads(), tp.backends()
  tp.clock()       wall-clock seconds, for timings
Modules load on first use; help(tp.MODULE) describes each.]])

return setmetatable(tp, {
  __index = function(t, k)
    if type(k) == "string" and host.module_exists("tempera." .. k) then
      local m = require("tempera." .. k)
      rawset(t, k, m)
      return m
    end
    local names = {}
    for name in pairs(t) do names[#names + 1] = name end
    for _, m in ipairs(host.modules()) do
      local sub = m:match("^tempera%.([%w_]+)$")
      -- rawget: t[sub] would load every module (and then leave it out of the list)
      if sub and sub ~= "cdef" and sub ~= "host" and sub ~= "cli" and rawget(t, sub) == nil then
        names[#names + 1] = sub
      end
    end
    table.sort(names)
    util.raise("tempera has no '%s' (available: %s)", tostring(k), table.concat(names, ", "))
  end,
  __tostring = function() return "tempera " .. tp.version end,
})
