-- tempera.marginal: a marginalization model fitted to an any-order sampler
-- on the 2x2 Ising model (16 configurations, 24 orders).  The sampler theta
-- is first trained a little by REINFORCE so that it is far from uniform;
-- its order-averaged marginal p_theta(x) = mean over the 24 orders of
-- p_theta(x | order) is computed exactly from its conditionals.  The
-- fitted phi must give log p_phi(x) close to log p_theta(x) for all 16 x
-- in one pass each, sum to 1 over them, and give the one-site marginals of
-- theta for partial configurations; before fitting it must not (so the
-- test can fail).  Also checks the C pieces (prefix rows, pick, weights)
-- directly and bad input.
local tp = require "tempera"
tp.threads(1)
local ffi = require "ffi"
local C = require("tempera.ffi").C

local lat = tp.lattice.square(2)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0.1 }
local T = 4
local theta = tp.nn.transformer{ lattice_shape = { 2, 2 }, states = 2, embed = 16, depth = 1, heads = 2,
                                 seed = 4, backend = "cpu", lr = 5e-3, ema = 0.9 }
tp.reinforce{ net = theta, model = model, beta = 0.3, steps = 60, batch = 64, seed = 3 }

-- theta's conditionals for every (x, visible set S): 256 rows
local inp = ffi.new("uint8_t[?]", 256 * T)
for x = 0, 15 do
  for S = 0, 15 do
    for i = 0, T - 1 do
      local bit = math.floor(x / 2 ^ i) % 2
      inp[(x * 16 + S) * T + i] = (math.floor(S / 2 ^ i) % 2 == 1) and bit or 2
    end
  end
end
local lp = theta:forward(inp, 256, { ema = true })
local orders = {}
local function perm(a, k)
  if k > T then orders[#orders + 1] = { unpack(a) }; return end
  for j = k, T do a[k], a[j] = a[j], a[k]; perm(a, k + 1); a[k], a[j] = a[j], a[k] end
end
perm({ 0, 1, 2, 3 }, 1)
local pbar, tot = {}, 0
for x = 0, 15 do
  local s = 0
  for _, o in ipairs(orders) do
    local S, l = 0, 0
    for d = 1, T do
      local i = o[d]
      l = l + lp[((x * 16 + S) * T + i) * 2 + math.floor(x / 2 ^ i) % 2]
      S = S + 2 ^ i
    end
    s = s + math.exp(l) / #orders
  end
  pbar[x], tot = s, tot + s
end
assert(math.abs(tot - 1) < 1e-5, "theta's order-averaged marginal sums to " .. tot)
local spread = 0
for x = 0, 15 do spread = math.max(spread, math.abs(math.log(pbar[x] * 16))) end
assert(spread > 0.5, "theta should be far from uniform after REINFORCE, max |log 16p| = " .. spread)

local all = ffi.new("uint8_t[64]")
for x = 0, 15 do for i = 0, 3 do all[x * 4 + i] = math.floor(x / 2 ^ i) % 2 end end

local mam = tp.marginal{ sampler = theta, embed = 16, depth = 1, heads = 2, lr = 1e-2, seed = 7 }
assert(tostring(mam):find("tp.marginal"), tostring(mam))
local function errors()
  local l = mam:log_prob(all, 16)
  local worst, s = 0, 0
  for x = 0, 15 do
    worst = math.max(worst, math.abs(l[x] - math.log(pbar[x])))
    s = s + math.exp(l[x])
  end
  return worst, s
end
local w0, s0 = errors()
local test_x = theta:sample(256, { seed = 11, stream = 0 })
local c0 = mam:consistency(test_x, 256, { seed = 12 })
local hist = mam:fit{ steps = 1000, batch = 64, seed = 5 }
assert(#hist == 1000, "history length")
local w1, s1 = errors()
local c1 = mam:consistency(test_x, 256, { seed = 12 })
print(string.format("marginal: max |log p_phi - log p_theta| %.3f -> %.3f, sum p_phi %.4f -> %.4f, consistency %.4f -> %.4f",
  w0, w1, s0, s1, c0, c1))
assert(w0 > 0.5, "the unfitted model should be far off: " .. w0)
assert(w1 < 0.3, "fitted log-likelihoods off by " .. w1)
assert(math.abs(s1 - 1) < 0.06, "fitted probabilities sum to " .. s1)
assert(c1 < c0 / 10, string.format("consistency %.4f -> %.4f", c0, c1))

-- partial configurations: one revealed site i with value v has theta's
-- marginal p(x_i = v) = mean over x with x_i = v of pbar
local part = ffi.new("uint8_t[32]")
local want = {}
for i = 0, 3 do
  for v = 0, 1 do
    local r = i * 2 + v
    for j = 0, 3 do part[r * 4 + j] = 2 end
    part[r * 4 + i] = v
    local p = 0
    for x = 0, 15 do if math.floor(x / 2 ^ i) % 2 == v then p = p + pbar[x] end end
    want[r] = math.log(p)
  end
end
local lpart = mam:log_prob(part, 8)
for r = 0, 7 do
  assert(math.abs(lpart[r] - want[r]) < 0.1, string.format("one-site marginal %d: %.3f vs %.3f", r, lpart[r], want[r]))
end

-- C pieces: prefix rows reveal d-1 and d sites of x, and 'upto' adds the site
local B = 50
local x = theta:sample(B, { seed = 2, stream = 100 })
local rows, site = ffi.new("uint8_t[?]", 2 * B * T), ffi.new("int32_t[?]", B)
assert(C.tp_mam_prefix(rows, rows + B * T, site, x, 9, 0, B, T, 2) == 0)
local seen = {}
for r = 0, B - 1 do
  local nb, nu = 0, 0
  for i = 0, T - 1 do
    local b, u, xv = rows[r * T + i], rows[(B + r) * T + i], x[r * T + i]
    if b ~= 2 then nb = nb + 1; assert(b == xv, "before reveals x") end
    if u ~= 2 then nu = nu + 1; assert(u == xv, "upto reveals x") end
    if i == site[r] then assert(b == 2 and u == xv, "the site is revealed in upto only")
    else assert(b == u, "before and upto differ only at the site") end
  end
  assert(nu == nb + 1, "upto reveals one more site")
  seen[nb] = true
end
for d = 0, T - 1 do assert(seen[d], "step " .. d .. " never drawn in 50 rows") end
local rows2 = ffi.new("uint8_t[?]", 2 * B * T)
assert(C.tp_mam_prefix(rows2, rows2 + B * T, site, x, 9, 0, B, T, 2) == 0)
assert(ffi.string(rows, 2 * B * T) == ffi.string(rows2, 2 * B * T), "prefix rows are a pure function of (seed, stream)")
x[3] = 2
assert(C.tp_mam_prefix(rows, rows + B * T, site, x, 9, 0, B, T, 2) ~= 0, "a mask token in x is refused")
assert(ffi.string(C.tp_last_error()):find("not a state"), ffi.string(C.tp_last_error()))

-- bad input raises at this file's line
local ok, err = pcall(tp.marginal, { embed = 8 })
assert(not ok and err:find("marginal_fit.lua:%d+:") and err:find("sampler"), err)
ok, err = pcall(tp.marginal, { sampler = model })
assert(not ok and err:find("marginal_fit.lua:%d+:") and err:find("tp.nn network"), err)
ok, err = pcall(function() mam:fit{ steps = 0 } end)
assert(not ok and err:find("steps"), err)
