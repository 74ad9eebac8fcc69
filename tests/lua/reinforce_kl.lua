-- tempera.reinforce: REINFORCE on the 2x2 Ising model (16 states, 24 orders)
-- drives the exact KL(p_theta || pi) down.  p_theta(x | order) is computed
-- exactly from the network's conditionals (one forward pass per visible
-- set): the pair KL = mean over all 24 orders of KL(p(.|order) || pi) and
-- the order-averaged marginal's KL (<= the pair KL) are both checked.
-- Also: the gradient's log p along the sampling order equals the sampler's,
-- log Z-hat matches enumeration within 4 standard errors, and bad input
-- raises at the caller's line.
local tp = require "tempera"
tp.threads(1)   -- tiny networks: one thread is fastest, and immune to OpenMP spinning on a loaded machine
local ffi = require "ffi"

local lat = tp.lattice.square(2)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0 }
local beta = 0.4
local ex = tp.exact(model, beta)
local net = tp.nn.transformer{ lattice_shape = { 2, 2 }, states = 2, embed = 16, depth = 1, heads = 2,
                               seed = 4, backend = "cpu", lr = 5e-3, ema = 0.9 }
local T = 4

-- exact log p(x | order) for every x (16) and order (24) from the parameters
local function exact_kl()
  -- conditionals: row (x, visible set S) -> logp of every site
  local inp = ffi.new("uint8_t[?]", 16 * 16 * T)
  for x = 0, 15 do
    for S = 0, 15 do
      for i = 0, T - 1 do
        local bit = math.floor(x / 2 ^ i) % 2
        inp[(x * 16 + S) * T + i] = (math.floor(S / 2 ^ i) % 2 == 1) and bit or 2
      end
    end
  end
  local lp = net:forward(inp, 256)
  local orders = {}
  local function perm(a, k)
    if k > T then orders[#orders + 1] = { unpack(a) }; return end
    for j = k, T do a[k], a[j] = a[j], a[k]; perm(a, k + 1); a[k], a[j] = a[j], a[k] end
  end
  perm({ 0, 1, 2, 3 }, 1)
  assert(#orders == 24)
  local logpi, x1 = {}, ffi.new("uint8_t[4]")
  for x = 0, 15 do
    for i = 0, 3 do x1[i] = math.floor(x / 2 ^ i) % 2 end
    logpi[x] = -beta * model:energy(x1) - ex.log_z
  end
  local kl_pair, marg = 0, {}
  for x = 0, 15 do marg[x] = 0 end
  for _, o in ipairs(orders) do
    local tot = 0
    for x = 0, 15 do
      local S, l = 0, 0
      for d = 1, T do
        local i = o[d]
        local bit = math.floor(x / 2 ^ i) % 2
        l = l + lp[((x * 16 + S) * T + i) * 2 + bit]
        S = S + 2 ^ i
      end
      local p = math.exp(l)
      tot = tot + p
      kl_pair = kl_pair + p * (l - logpi[x]) / 24
      marg[x] = marg[x] + p / 24
    end
    assert(math.abs(tot - 1) < 1e-5, "p(.|order) sums to " .. tot)
  end
  local kl_marg = 0
  for x = 0, 15 do kl_marg = kl_marg + marg[x] * (math.log(marg[x]) - logpi[x]) end
  return kl_pair, kl_marg
end

-- the gradient's log p(x | order) is the sampler's along the same stream
local x, lq = net:sample(6, { seed = 5, stream = 77, ema = false })
local loss, lq2 = net:order_grad(x, { 1, 0, 0, 0, 0, -1 }, 6, { seed = 5, stream = 77 })
for b = 0, 5 do assert(math.abs(lq[b] - lq2[b]) < 1e-5, lq[b] .. " vs " .. lq2[b]) end
assert(math.abs(loss - (lq[0] - lq[5])) < 1e-5, loss)

local kl0p, kl0m = exact_kl()
local r = tp.reinforce{ net = net, model = model, beta = beta, steps = 300, batch = 128, seed = 3 }
assert(#r.history == 300 and r.last.ness > 0 and r.last.ness <= 1)
local kl1p, kl1m = exact_kl()
print(string.format("reinforce 2x2 beta %.1f: pair KL %.4f -> %.4f, marginal KL %.4f -> %.4f",
  beta, kl0p, kl1p, kl0m, kl1m))
assert(kl1m <= kl1p + 1e-9)
assert(kl0p > 0.2, "the untrained network should be far from pi: " .. kl0p)
assert(kl1p < 0.01, "pair KL after training " .. kl1p)

-- log Z-hat from the parameters (the KL above is theirs)
local lz, err, ness = tp.reinforce.log_z(net, model, beta, 4000, { seed = 8, stream = 0, ema = false })
print(string.format("log Z-hat %.4f +- %.4f (NESS %.3f), exact %.4f", lz, err, ness, ex.log_z))
assert(math.abs(lz - ex.log_z) < 4 * err + 1e-9, lz .. " vs " .. ex.log_z)

-- errors
local ok, msg = pcall(tp.reinforce, { net = net, model = model, steps = 2 })
assert(not ok and msg:find("exactly one of beta, conditions"), msg)
local m3 = tp.model.ising{ lattice = tp.lattice.square(3) }
ok, msg = pcall(tp.reinforce.step, net, m3, 0.3, 8)
assert(not ok and msg:find("the model has 9 sites"), msg)
ok, msg = pcall(tp.reinforce.step, net, model, 0.3, 1)
assert(not ok and msg:find("batch must be an integer >= 2"), msg)
ok, msg = pcall(net.order_grad, net, x, { 0 / 0, 0, 0, 0, 0, 0 }, 6, { stream = 77 })
assert(not ok and msg:find("weight 0 is"), msg)
ok, msg = pcall(net.order_grad, net, x, { 0, 0, 0, 0, 0, 0 }, 6)
assert(not ok and msg:find("give the stream"), msg)
