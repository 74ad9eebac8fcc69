-- tempera.rng: Philox4x32-10 random streams keyed by (seed, stream).
-- A stream's numbers depend only on the seed, the stream id and how many
-- were drawn: never on threads or backend.  Use one stream per chain.
--   local r = tp.rng(3)          -- stream 3 of the run's seed
--   local r = tp.rng{ seed = 7, stream = 0 }
--   r:uniform(), r:normal(), r:below(n), r:u32()
local F = require "tempera.ffi"
local util = require "tempera.util"
local run = require "tempera.run"
local C, ffi = F.C, F.ffi

local mt = {
  __index = {
    uniform = function(r) return C.tp_rng_uniform(r) end,
    normal = function(r) return C.tp_rng_normal(r) end,
    below = function(r, n) return C.tp_rng_below(r, n) end,
    u32 = function(r) return C.tp_rng_u32(r) end,
    fill = function(r, buf, n) util.check(C.tp_rng_fill_uniform(r, buf, n)) end,
  },
  __tostring = function(r)
    local seed = r.key[0] + r.key[1] * 2^32
    local stream = r.ctr[2] + r.ctr[3] * 2^32
    return string.format("tp.rng(seed=%d, stream=%d)", seed, stream)
  end,
}
local rng_t = ffi.metatype("tp_rng", mt)

local function new(arg)
  local seed, stream
  if arg == nil or type(arg) == "number" then
    seed, stream = nil, arg or 0
  elseif type(arg) == "table" then
    local o = util.options("tp.rng", arg, {
      seed = { type = "integer", doc = "seed (default: the run's seed)" },
      stream = { type = "integer", default = 0 },
    })
    seed, stream = o.seed, o.stream
  else
    util.raise("tp.rng expects a stream number or {seed=, stream=}, got %s", type(arg))
  end
  util.check_arg(stream >= 0 and stream == math.floor(stream), "tp.rng: stream must be a non-negative integer")
  if seed == nil then
    seed = run.seed()
    run.announce_seed()
  end
  util.check_arg(seed >= 0 and seed == math.floor(seed), "tp.rng: seed must be a non-negative integer")
  local r = rng_t()
  C.tp_rng_init(r, seed, stream)
  return r
end

util.doc(new, [[
tp.rng(stream) / tp.rng{ seed = S, stream = K }
  A Philox4x32-10 stream. Methods: r:uniform() in [0,1), r:normal(),
  r:below(n) in [0,n), r:u32(), r:fill(double_array, n).
  Default seed: the run's (--seed, else params.seed, else 1).]])

return new
