-- tempera.reinforce with a conditioned network: one model trained by
-- REINFORCE over a grid of (beta, h) on the 2x2 Ising model; log Z-hat at
-- every grid point from the one model matches exact enumeration within 4
-- standard errors, the conditions change the network's output, and bad
-- conditions raise with a message.
local tp = require "tempera"
tp.threads(1)   -- tiny networks: one thread is fastest, and immune to OpenMP spinning on a loaded machine
local ffi = require "ffi"

local lat = tp.lattice.square(2)
local conds = {}
for _, b in ipairs{ 0.2, 0.45, 0.7 } do
  for _, h in ipairs{ 0, 0.5 } do conds[#conds + 1] = { beta = b, h = h } end
end
local cache = {}
local function model(c)
  cache[c.h] = cache[c.h] or tp.model.ising{ lattice = lat, J = 1, h = c.h }
  return cache[c.h]
end
local net = tp.nn.transformer{ lattice_shape = { 2, 2 }, states = 2, embed = 16, depth = 1, heads = 2,
                               seed = 6, backend = "cpu", lr = 1e-2, ema = 0.9, conditions = 2 }
assert(net.conditions == 2)

-- conditions enter the output
local x = ffi.new("uint8_t[4]", 2)
local a = net:forward(x, 1, { conditions = { { 0.2, 0 } } })
local b = net:forward(x, 1, { conditions = { { 0.7, 0.5 } } })
assert(a[0] ~= b[0], "conditions must change the output")

local r = tp.reinforce{ net = net, model = model, conditions = conds, steps = 200, batch = 32, seed = 2 }
assert(#r.history == 200 and #r.last.per == #conds)
local grid = tp.reinforce.log_z_grid(net, model, conds, 2000, { seed = 3, stream = 0 })
local worst = 0
for g, p in ipairs(grid) do
  local ex = tp.exact(model(p), p.beta)
  local z = (p.log_z - ex.log_z) / p.log_z_err
  print(string.format("beta %.2f h %.2f  log Z-hat %.4f +- %.4f  exact %.4f  (%+.2f se, NESS %.3f)",
    p.beta, p.h, p.log_z, p.log_z_err, ex.log_z, z, p.ness))
  assert(p.ness > 0.5, "grid point " .. g .. " NESS " .. p.ness)
  worst = math.max(worst, math.abs(z))
end
assert(worst < 4, "worst grid point " .. worst .. " standard errors")

-- checkpoint round trip keeps the condition MLP
net:save("cond.ckpt")
local net2 = tp.nn.load("cond.ckpt")
os.remove("cond.ckpt")
assert(net2.conditions == 2 and net2.num_params == net.num_params and net2.backend == "cpu")
local c1 = net:forward(x, 1, { conditions = { { 0.45, 0.5 } } })
local c2 = net2:forward(x, 1, { conditions = { { 0.45, 0.5 } } })
for i = 0, 7 do assert(c1[i] == c2[i]) end

-- errors
local ok, msg = pcall(net.sample, net, 3, { conditions = { { 0.2, 0 } }, stream = 0 })
assert(not ok and msg:find("row 2 needs condition 2 but 1 are set"), msg)
ok, msg = pcall(net.set_conditions, net, { { 0.2 } })
assert(not ok and msg:find("condition 1 needs 2 numbers"), msg)
ok, msg = pcall(net.set_conditions, net, { { 0 / 0, 1 } })
assert(not ok and msg:find("not finite"), msg)
ok, msg = pcall(tp.reinforce, { net = net, model = model, conditions = { { h = 0 } }, steps = 1 })
assert(not ok and msg:find("condition 1 needs a number beta"), msg)
local plain = tp.nn.transformer{ lattice_shape = { 2, 2 }, states = 2, embed = 8, depth = 1, heads = 1, backend = "cpu" }
ok, msg = pcall(tp.reinforce, { net = plain, model = model, conditions = conds, steps = 1 })
assert(not ok and msg:find("conditions need a conditioned network"), msg)
ok, msg = pcall(plain.set_conditions, plain, { { 1 } })
assert(not ok and msg:find("has no conditions"), msg)
ok, msg = pcall(tp.nn.transformer, { lattice_shape = { 2, 2 }, states = 2, embed = 8, depth = 1, heads = 1,
                                     backend = "cpu", conditions = 99 })
assert(not ok and msg:find("conditions must be in 0..8"), msg)
