-- recipes/marginal_ising.lua -- a marginalization model (tempera-marginal(5), tempera-methods(7)) on
-- the 3x3 Ising model: one forward pass for log p(x) instead of one per site.
--
-- What it shows: an any-order sampler theta trained by REINFORCE
-- (tp.reinforce), then tp.marginal fitting a second network phi to it by
-- the consistency penalty.  Any-order samplers give log p(x | order), which
-- depends on the order; phi learns the order-averaged marginal
-- p(x) = E_order p(x | order), here estimated for comparison by averaging
-- over 'orders' random orders per sample.  The table compares, on fresh
-- samples, theta's teacher-forced log p(x | order) (T passes), the
-- order-averaged estimate (orders * T passes) and phi (1 pass): their
-- spread, the wall time per 1000 likelihoods, and the importance weights
-- each gives for the Boltzmann distribution (NESS, log Z-hat against exact
-- enumeration).  phi's weights are only as good as its fit: with an
-- imperfect phi, log Z-hat from them is biased, which the table shows.
-- Expected time: about 7 s on 2 CPU cores with the defaults.
local tp = require "tempera"

local P = tp.params{ L = 3, beta = 0.4, h = 0.1, embed = 16, depth = 1, heads = 2, train_steps = 300,
  fit_steps = 1500, phi_embed = 16, phi_depth = 1, phi_lr = 3e-3, batch = 64, samples = 1000, orders = 32, seed = 1 }

local ffi = require "ffi"
local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat, J = 1, h = P.h }
local ex = tp.exact(model, P.beta)
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = P.heads,
  seed = P.seed, backend = "cpu", lr = 5e-3, ema = 0.9 }
print(string.format("# Ising %dx%d beta %g h %g, exact log Z %.4f; theta %s", P.L, P.L, P.beta, P.h, ex.log_z,
  tostring(net)))

local t0 = os.clock()
tp.reinforce{ net = net, model = model, beta = P.beta, steps = P.train_steps, batch = P.batch }
local mam = tp.marginal{ sampler = net, embed = P.phi_embed, depth = P.phi_depth, lr = P.phi_lr }
local hist = mam:fit{ steps = P.fit_steps, batch = P.batch }
io.stderr:write(string.format("training: %.1f s CPU\n", os.clock() - t0))
print("fit step   consistency loss")
for k = 1, #hist do
  if k == 1 or k % math.max(1, math.floor(#hist / 5)) == 0 then print(string.format("%8d %12.5f", k, hist[k])) end
end

local n, T = P.samples, net.sites
local x, lq = net:sample(n)
local e = model:energies(x, n)
-- order-averaged marginal by averaging exp(log p(x | order)) over random orders
local rep = ffi.new("uint8_t[?]", n * P.orders * T)
for k = 0, P.orders - 1 do ffi.copy(rep + k * n * T, x, n * T) end
local c1 = os.clock()
local lo = net:log_prob(rep, n * P.orders)
local t_avg = (os.clock() - c1) / P.orders
local lbar, lgeo = ffi.new("double[?]", n), ffi.new("double[?]", n)
for i = 0, n - 1 do
  local m = -math.huge
  for k = 0, P.orders - 1 do m = math.max(m, lo[k * n + i]) end
  local s = 0
  for k = 0, P.orders - 1 do s = s + math.exp(lo[k * n + i] - m) end
  lbar[i] = m + math.log(s / P.orders)
  local g = 0
  for k = 0, P.orders - 1 do g = g + lo[k * n + i] end
  lgeo[i] = g / P.orders
end
local c2 = os.clock()
local lphi = mam:log_prob(x, n)
local t_phi = os.clock() - c2

local function weights(lp)
  local lw = ffi.new("double[?]", n)
  for i = 0, n - 1 do lw[i] = -P.beta * e[i] - lp[i] end
  return tp.reinforce.log_z_of(lw, n)
end
local function spread(a, ref)
  local s = 0
  for i = 0, n - 1 do s = s + math.abs(a[i] - ref[i]) end
  return s / n
end
print(string.format("%d samples; |log p - order-averaged log p| and importance weights for pi ~ exp(-beta E)", n))
print("likelihood                   d_avg   d_log  s/1000     NESS   log Z-hat  (exact)")
for _, row in ipairs{ { "theta, one order (T passes)", lq, t_avg }, { "theta, log of order average", lbar, t_avg * P.orders },
                      { "theta, order average of log", lgeo, t_avg * P.orders }, { "phi (1 pass)", lphi, t_phi } } do
  local lz, err, ness = weights(row[2])
  print(string.format("%-28s %6.3f %7.3f %7.3f %8.3f %8.3f+-%.3f (%.3f)", row[1], spread(row[2], lbar),
    spread(row[2], lgeo), row[3] / n * 1000, ness, lz, err, ex.log_z))
end
print("(d_avg, d_log: mean |log p - reference| against the log of the order average and the order average of log)")
