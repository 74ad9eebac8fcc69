-- Core stdlib behaviour: rng reproducibility, option validation, help
-- registry, repr, raising at the caller's line.
local tp = require "tempera"
local util = require "tempera.util"
local repl = require "tempera.repl"

-- rng: same (seed, stream) -> same numbers; different stream -> different
local a, b, c = tp.rng{ seed = 5, stream = 1 }, tp.rng{ seed = 5, stream = 1 }, tp.rng{ seed = 5, stream = 2 }
for _ = 1, 100 do
  local x, y = a:uniform(), b:uniform()
  assert(x == y, "same stream must repeat")
  assert(x >= 0 and x < 1)
end
assert(a:u32() ~= c:u32(), "streams must differ")
assert(tostring(a) == "tp.rng(seed=5, stream=1)", tostring(a))

-- options: defaults, unknown keys, types
local o = util.options("f", { x = 2 }, { x = { type = "integer" }, y = { type = "number", default = 3 } })
assert(o.x == 2 and o.y == 3)
local ok, err = pcall(util.options, "f", { z = 1 }, { x = {}, y = {} })
assert(not ok and err:find("f: unknown option 'z' %(valid: x, y%)"), err)
ok, err = pcall(util.options, "f", { x = 1.5 }, { x = { type = "integer" } })
assert(not ok and err:find("option 'x' expects integer, got number"), err)
ok, err = pcall(util.options, "f", {}, { x = { required = true } })
assert(not ok and err:find("option 'x' is required"), err)

-- raise points at this file's line, not at the stdlib
ok, err = pcall(function() tp.rng(-1) end)
assert(not ok and err:find("core.lua:%d+: tp.rng: stream must be"), err)

-- help texts exist for the core functions
for _, f in ipairs { tp.params, tp.rng, tp.seed, tp.progress, tp.out, tp.threads } do
  assert(repl.help_text(f), "missing help")
end
assert(repl.help_text("rng"):find("Philox"))
assert(repl.help_text(tp):find("tempera"))

-- repr
assert(repl.repr({ 1, 2, a = "x" }) == '{1, 2, a = "x"}', repl.repr({ 1, 2, a = "x" }))
assert(repl.repr(0.5) == "0.5")
local arr = require("ffi").new("uint8_t[3]", { 1, 0, 1 })
assert(repl.repr(arr):find("{1, 0, 1}"), repl.repr(arr))

-- threads: set and get
local n = tp.threads()
assert(n >= 1)
assert(tp.threads(1) == 1)
tp.threads(n)
assert(tp.backends()[1] == "cpu")
