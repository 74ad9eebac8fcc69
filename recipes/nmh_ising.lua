-- recipes/nmh_ising.lua -- exactness on demand: neural independence
-- Metropolis-Hastings on the Ising model.
--
-- What it shows: a transformer trained briefly by any-order REINFORCE
-- is used as the proposal of independence Metropolis-Hastings
-- (man tempera-reinforce(5), tempera-methods(7)): each chain proposes a fresh network sample with
-- its exact log-likelihood along its order and accepts with
-- min(1, pi(x') p(x|order) / (pi(x) p(x'|order'))).  The chain lives on pairs
-- (x, order) and leaves pi(x) U(order) invariant, so plain chain averages are
-- unbiased: no weights in the estimator.  The recipe prints the acceptance
-- rate and <E>/N, <|m|> and <m^2> with tau_int error bars against exact
-- enumeration, next to the self-normalised importance-sampling estimates
-- from the same network.
-- Expected time: about 15 s on one CPU core with the defaults (4x4, beta 0.35;
-- threads = 1: networks this small gain nothing from more threads).
local tp = require "tempera"

local P = tp.params{ L = 4, beta = 0.35, train_steps = 300, batch = 64, embed = 16, depth = 1, heads = 2,
  lr = 1e-2, chains = 64, steps = 200, burn_in = 20, seed = 3, threads = 1 }
tp.threads(P.threads)

local lat = tp.lattice.square(P.L)
local model = tp.model.ising{ lattice = lat, J = 1, h = 0 }
local m = tp.cv.magnetization(lat)
local N = P.L * P.L
local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.embed, depth = P.depth, heads = P.heads,
                               lr = P.lr, ema = 0.9, seed = P.seed }
print(string.format("Ising %dx%d beta %g: REINFORCE %d steps of %d samples, then neural MH with %d chains x %d steps",
  P.L, P.L, P.beta, P.train_steps, P.batch, P.chains, P.steps))
local r = tp.reinforce{ net = net, model = model, beta = P.beta, steps = P.train_steps, batch = P.batch, stream = 0 }
print(string.format("after training: KL upper bound %.4f, batch NESS %.3f", r.last.kl_upper, r.last.ness))

local chain = tp.nmh{ net = net, model = model, beta = P.beta, steps = P.steps, chains = P.chains,
                      burn_in = P.burn_in, cv = m, stream = 1e6 }
print(string.format("acceptance rate %.3f (%d of %d proposals)", chain.acceptance, chain.accepted, chain.proposed))

local points = N + 1
local ex = tp.exact(model, P.beta, { cv = m, points = points, range = { -1, 1 } })
local exact = tp.evaluate.exact_row(model, P.beta, { reference = ex })
local abs_m, m2 = exact.mag, exact.m2
local sq = require("ffi").new("double[?]", P.chains * P.steps)
for i = 0, P.chains * P.steps - 1 do sq[i] = chain.cv[i] ^ 2 end
local s_e, s_m, s_m2 = chain.stats.energy, chain.stats.abs_cv, tp.observables.stats(sq, P.chains, P.steps)

-- importance sampling from the same network, for comparison (weights, NESS)
local n_is = P.chains * P.steps
local x, lq = net:sample(n_is, { stream = 2e6 })
local e = model:energies(x, n_is)
local mv = m:eval(x, n_is)
local lw = require("ffi").new("double[?]", n_is)
for b = 0, n_is - 1 do lw[b] = -P.beta * e[b] - lq[b] end
local w, ness = tp.nn.softmax_weights(lw, n_is)
local is_e, is_m, is_m2 = 0, 0, 0
for b = 0, n_is - 1 do
  is_e, is_m, is_m2 = is_e + w[b] * e[b], is_m + w[b] * math.abs(mv[b]), is_m2 + w[b] * mv[b] ^ 2
end

print("observable   neural MH              dev/se   tau_int   IS (NESS " .. string.format("%.3f", ness) .. ")   exact")
local function row(name, s, exact, scale, is)
  print(string.format("%-10s  %9.4f +- %7.4f  %+6.2f  %7.2f   %9.4f        %9.4f", name, s.mean / scale,
    s.err / scale, (s.mean - exact * scale) / s.err, s.tau, is / scale, exact))
end
row("<E>/N", s_e, ex.energy_per_site, N, is_e)
row("<|m|>", s_m, abs_m, 1, is_m)
row("<m^2>", s_m2, m2, 1, is_m2)
