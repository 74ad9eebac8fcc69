-- net:inpaint (kernels/net.c tp_net_inpaint) on a 3x3 lattice with a tiny
-- untrained network (q = 2, embed 16, depth 1): for a fixed partial
-- configuration with 4 masked sites,
--  * the teacher-forced probabilities of all 16 completions along one
--    order sum to 1 (1e-5: float log-probabilities summed in double);
--  * the drawn completions' counts over N = 3000 rows (one order each)
--    match their exact expectations sum_s p(c | order_s) within 4
--    standard errors per completion (Poisson-binomial variance), and in
--    aggregate chi2 < 16 + 6 sqrt(32) (16 cells);
--  * a drawn row's logq equals the teacher-forced logq of the same row and
--    stream; the given sites are never changed;
--  * rows with different masks in one call (some with nothing to fill)
--    equal the same rows drawn one at a time; a fully masked row equals
--    net:sample bit for bit;
--  * masked sites not marked in 'fill' stay masked (hidden context) and the
--    drawn sites' completions still sum to 1.
local tp = require "tempera"
tp.threads(1)   -- tiny network: one thread is fastest on a loaded machine
local ffi = require "ffi"

local T, q = 9, 2
local net = tp.nn.transformer{ lattice_shape = { 3, 3 }, states = q, embed = 16, depth = 1, heads = 2,
                               seed = 11, backend = "cpu" }
-- stronger parameters than the init so conditionals are far from uniform
local p = net:get("params")
local rng = 12345
for i = 0, net.num_params - 1 do
  rng = (rng * 1103515245 + 12345) % 2147483648
  p[i] = p[i] + (rng / 2147483648 - 0.5) * 1.3
end
net:set("params", p)
net:set("ema", p)

local partial = { 1, 2, 0, 2, 1, 2, 0, 0, 2 }   -- 2 = mask: sites 2, 4, 6, 9 (1-based)
local masked = {}
for i = 1, T do if partial[i] == q then masked[#masked + 1] = i end end
local M = #masked
local K = 2 ^ M

local function completion(c, out, off)
  for i = 1, T do out[off + i - 1] = partial[i] end
  for j = 1, M do out[off + masked[j] - 1] = math.floor(c / 2 ^ (j - 1)) % 2 end
end
local function code(x, off)
  local c = 0
  for j = 1, M do c = c + x[off + masked[j] - 1] * 2 ^ (j - 1) end
  return c
end

-- 1. draws: N rows, one stream each
local N, seed, stream0 = 3000, 77, 5000
local part = ffi.new("uint8_t[?]", N * T)
for r = 0, N - 1 do for i = 1, T do part[r * T + i - 1] = partial[i] end end
local x, lq = net:inpaint(part, N, { seed = seed, stream = stream0 })
local count = {}
for c = 0, K - 1 do count[c] = 0 end
for r = 0, N - 1 do
  for i = 1, T do
    if partial[i] ~= q then assert(x[r * T + i - 1] == partial[i], "a given site changed") end
    assert(x[r * T + i - 1] < q, "a site left masked")
  end
  assert(part[r * T + 1] == q, "the input was modified")
  local c = code(x, r * T)
  count[c] = count[c] + 1
end

-- 2. teacher forcing of every completion along every row's order: K*N rows,
-- row (c, r) uses stream stream0 + r as draw r did
local all = ffi.new("uint8_t[?]", K * N * T)
local pa = ffi.new("uint8_t[?]", K * N * T)
for c = 0, K - 1 do
  for r = 0, N - 1 do
    local off = (c * N + r) * T
    completion(c, all, off)
    for i = 1, T do pa[off + i - 1] = partial[i] end
  end
end
local tq = {}
for c = 0, K - 1 do
  local _, l = net:inpaint(pa + c * N * T, N, { truth = all + c * N * T, seed = seed, stream = stream0 })
  tq[c] = l
end
-- sums over completions per order
for r = 0, N - 1, 97 do
  local s = 0
  for c = 0, K - 1 do s = s + math.exp(tq[c][r]) end
  assert(math.abs(s - 1) < 1e-5, string.format("row %d: completions sum to %.9f", r, s))
end
-- the sampler's logq equals teacher forcing along the same order
for r = 0, N - 1 do
  local c = code(x, r * T)
  assert(math.abs(lq[r] - tq[c][r]) < 1e-9, string.format("row %d: logq %.12g vs teacher %.12g", r, lq[r], tq[c][r]))
end
-- counts against exact expectations
local chi2 = 0
for c = 0, K - 1 do
  local mean, var = 0, 0
  for r = 0, N - 1 do
    local pr = math.exp(tq[c][r])
    mean, var = mean + pr, var + pr * (1 - pr)
  end
  local z = (count[c] - mean) / math.sqrt(var)
  assert(math.abs(z) < 4, string.format("completion %d: %d drawn, %.1f expected (z = %.2f)", c, count[c], mean, z))
  chi2 = chi2 + z * z
end
assert(chi2 < K + 6 * math.sqrt(2 * K), string.format("chi2 %.1f over %d cells", chi2, K))
-- the conditionals are not trivial: some completion is far from uniform
local pmax = 0
for c = 0, K - 1 do pmax = math.max(pmax, count[c] / N) end
assert(pmax > 3 / K, string.format("network too close to uniform for a meaningful test (max p %.3f)", pmax))

-- 3. ragged masks in one call equal the rows one at a time
local rows = { { 2, 2, 2, 2, 2, 2, 2, 2, 2 }, { 0, 1, 0, 1, 0, 1, 0, 1, 0 }, { 2, 0, 0, 0, 0, 0, 0, 0, 2 },
               { 1, 2, 1, 2, 1, 2, 1, 2, 1 }, { 2, 2, 2, 1, 1, 1, 0, 0, 0 } }
local R = #rows
local rg = ffi.new("uint8_t[?]", R * T)
for r = 1, R do for i = 1, T do rg[(r - 1) * T + i - 1] = rows[r][i] end end
local xr, lr = net:inpaint(rg, R, { seed = 3, stream = 40 })
for r = 1, R do
  local one = ffi.new("uint8_t[?]", T)
  for i = 1, T do one[i - 1] = rows[r][i] end
  local x1, l1 = net:inpaint(one, 1, { seed = 3, stream = 40 + r - 1 })
  for i = 0, T - 1 do assert(x1[i] == xr[(r - 1) * T + i], string.format("ragged row %d site %d differs", r, i)) end
  assert(l1[0] == lr[r - 1], string.format("ragged row %d logq differs", r))
end
assert(lr[1] == 0, "a row with nothing to fill has logq 0")
-- 4. a fully masked row is net:sample
local xs, ls = net:sample(R, { seed = 3, stream = 40 })
for i = 0, T - 1 do assert(xs[i] == xr[i], "fully masked row differs from net:sample") end
assert(ls[0] == lr[0], "fully masked row's logq differs from net:sample")

-- 5. hidden sites (fill = 0 at a masked site): never drawn, left masked,
-- and the drawn sites' completions still sum to 1 along one order
local hid = { 2, 1, 2, 0, 2, 2, 1, 0, 2 }
local fl = { 1, 0, 0, 0, 1, 1, 0, 0, 0 }   -- draw sites 1, 5, 6; sites 3 and 9 stay hidden
local xh = net:inpaint(hid, 1, { fill = fl, seed = 8, stream = 3 })
for i = 1, T do
  if fl[i] == 1 then assert(xh[i - 1] < q, "a site to fill left masked")
  else assert(xh[i - 1] == hid[i], "a given or hidden site changed") end
end
local hs = 0
for c = 0, 7 do
  local tr = {}
  for i = 1, T do tr[i] = 0 end
  tr[1], tr[5], tr[6] = c % 2, math.floor(c / 2) % 2, math.floor(c / 4) % 2
  local xt, l = net:inpaint(hid, 1, { fill = fl, truth = tr, seed = 8, stream = 3 })
  assert(xt[2] == q and xt[8] == q, "teacher forcing filled a hidden site")
  hs = hs + math.exp(l[0])
end
assert(math.abs(hs - 1) < 1e-5, string.format("hidden context: completions sum to %.9f", hs))

-- 6. errors
local ok, err = pcall(function() net:inpaint({ 0, 1, 5, 0, 0, 0, 0, 0, 0 }, 1) end)
assert(not ok and tostring(err):find("exceeds the mask token"), "bad token accepted: " .. tostring(err))
ok, err = pcall(function() net:inpaint(partial, 1, { truth = { 0, 2, 0, 1, 1, 1, 0, 0, 1 } }) end)
assert(not ok and tostring(err):find("truth in 0..1"), "masked truth accepted: " .. tostring(err))
