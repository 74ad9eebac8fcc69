-- tempera.nmh: independence Metropolis-Hastings with a REINFORCE-trained
-- network as proposal reproduces the exact 3x3 Ising marginals at beta 0.35:
-- <E>, <|m|> and every P(m) bin within 4 standard errors (tau_int-corrected
-- chain error bars), with the acceptance rate reported; also with an
-- untrained network (poor proposal, lower acceptance, long burn-in), and
-- bad input raises with a message.
local tp = require "tempera"
tp.threads(1)   -- tiny networks: one thread is fastest, and immune to OpenMP spinning on a loaded machine
local ffi = require "ffi"

local lat = tp.lattice.square(3)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0 }
local m = tp.cv.magnetization(lat)
local beta = 0.35
local ex = tp.exact(model, beta, { cv = m, points = 10, range = { -1, 1 } })
local abs_m = 0
for g = 1, 10 do abs_m = abs_m + ex.marginal[g] * math.abs(ex.grid[1][g]) end

local function check(net, label, steps, burn)
  local r = tp.nmh{ net = net, model = model, beta = beta, steps = steps, chains = 32, burn_in = burn,
                    cv = m, seed = 21 }
  local E, M = r.stats.energy, r.stats.abs_cv
  print(string.format("nmh 3x3 beta %.2f (%s): acceptance %.3f  <E> %.4f +- %.4f (exact %.4f)  <|m|> %.4f +- %.4f (exact %.4f)",
    beta, label, r.acceptance, E.mean, E.err, ex.mean_e, M.mean, M.err, abs_m))
  assert(r.proposed == 32 * steps and r.accepted <= r.proposed)
  assert(math.abs(E.mean - ex.mean_e) < 4 * E.err, "energy")
  assert(math.abs(M.mean - abs_m) < 4 * M.err, "|m|")
  -- P(m), bin by bin
  local ind = ffi.new("double[?]", 32 * steps)
  local worst = 0
  for g = 1, 10 do
    local mg = ex.grid[1][g]
    for i = 0, 32 * steps - 1 do ind[i] = math.abs(r.cv[i] - mg) < 1e-6 and 1 or 0 end
    local s = tp.observables.stats(ind, 32, steps)
    local z = math.abs(s.mean - ex.marginal[g]) / math.max(s.err, 1e-12)
    if ex.marginal[g] > 0 then worst = math.max(worst, z) else assert(s.mean == 0) end
  end
  print(string.format("  worst P(m) bin %.2f standard errors", worst))
  assert(worst < 4.5, "P(m)")
  return r
end

-- an untrained network is a valid (poor) proposal
local net = tp.nn.transformer{ lattice_shape = { 3, 3 }, states = 2, embed = 16, depth = 1, heads = 2,
                               seed = 7, backend = "cpu", lr = 1e-2, ema = 0.9 }
local r0 = check(net, "untrained", 400, 150)
tp.reinforce{ net = net, model = model, beta = beta, steps = 150, batch = 64, seed = 5 }
local r1 = check(net, "trained", 250, 20)
assert(r1.acceptance > r0.acceptance + 0.1, "training should raise the acceptance")
assert(r1.acceptance > 0.6, r1.acceptance)

-- refresh = true (Gibbs step on the order) is also exact
local r2 = tp.nmh{ net = net, model = model, beta = beta, steps = 60, chains = 32, burn_in = 10, seed = 3,
                   refresh = true }
assert(math.abs(r2.stats.energy.mean - ex.mean_e) < 4 * r2.stats.energy.err)

-- errors
local ok, msg = pcall(tp.nmh, { net = net, model = tp.model.ising{ lattice = tp.lattice.square(2) }, beta = 1, steps = 1 })
assert(not ok and msg:find("the model has 4 sites"), msg)
ok, msg = pcall(tp.nmh, { net = net, model = model, steps = 1 })
assert(not ok and msg:find("beta"), msg)
ok, msg = pcall(tp.nmh, { net = net, model = model, beta = 1, steps = 0 })
assert(not ok and msg:find("steps"), msg)
ok, msg = pcall(tp.nmh, { net = {}, model = model, beta = 1, steps = 1 })
assert(not ok and msg:find("'net' must be a tp.nn network"), msg)
