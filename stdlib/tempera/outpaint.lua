-- tempera.outpaint: out-painting (man tempera-nn(5)).  A network trained on an
-- Lw x Lw periodic lattice fills a larger L x L one (L a multiple of the
-- stride) window by window: windows of the network's size at offsets
-- (i*s1, j*s2) in raster order (first axis fastest), wrapping around the
-- big lattice's periodic boundary; in each window the sites already
-- filled are given and the rest are in-painted (net:inpaint, one site per
-- step along a random order); windows with nothing new are skipped.
-- The network was trained periodic, so it takes a window's far edge for
-- a neighbour of its near edge: with context = "near" (default) a filled
-- site is shown only if it lies less than half a window, or at most one
-- site, (per axis, without wrapping) from some new site; the others stay
-- masked (hidden, not drawn).  Measured on 8x8 Ising at beta 0.3 from a 4x4 MDNS model
-- (1024 draws, 4 seeds): NESS 0.026-0.095 with stride 1 and "near",
-- 0.049-0.082 with stride 2 and "near", 0.006-0.032 with stride 1 and
-- "all".  The cost is one step per big-lattice site whatever the stride.
--
-- The log-likelihood of the whole generative process is the sum of the
-- windows' logq: log q(x | orders) over pairs (x, orders), exact, so
--   log w = -beta E(x) - logq
-- importance-reweights the draws to the big lattice's Boltzmann
-- distribution (NESS from tp.nn.softmax_weights).
--
--   local r = tp.outpaint{ net = net, lattice = tp.lattice.square(8), window = {4, 4}, n = 512 }
--   local w, ness = tp.outpaint.weights(r, model_8x8, beta)
--   -- r.x: uint8_t[n * lat.n], r.logq: double[n], r.windows: windows used
--
-- Streams: window w uses seed + w * 0x9E3779B97F4A7C15 (mod 2^64) and
-- stream (stream + r) for row r, so row r of an n-row call equals row 0
-- of a 1-row call with stream + r.  truth = configurations (n * N tokens)
-- scores them along the same windows and orders (teacher forcing).
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}
local u8_t, f32_t, f64_t = ffi.typeof("uint8_t[?]"), ffi.typeof("float[?]"), ffi.typeof("double[?]")
local GOLDEN = 0x9E3779B97F4A7C15ULL

local auto_stream = 0x4f55540000

local spec = {
  net = { type = "table", required = true, doc = "a tp.nn transformer trained on the window lattice" },
  lattice = { type = "any", doc = "the big hypercubic tempera lattice (site = lattice:site(position))" },
  shape = { type = "table", doc = "or the big box's periods {L1, ..}: site = row-major, last axis fastest" },
  window = { type = "table", doc = "the network's periods {Lw1, ..} (default: sites^(1/axes) each)" },
  stride = { type = "table", doc = "window offsets step per axis (default 1)" },
  n = { type = "integer", default = 1, check = function(v) return v >= 0, "must be >= 0" end },
  truth = { type = "any", doc = "configurations (n * N tokens) to score instead of drawing" },
  ema = { type = "boolean", default = true },
  seed = { type = "any" },
  stream = { type = "any" },
  progress = { type = "any", doc = "a tp.progress bar (updated per window)" },
  context = { type = "string", default = "near", check = function(v) return v == "near" or v == "all", "must be \"near\" or \"all\"" end,
    doc = "filled sites the network sees: near (less than half a window from a new site) or all" },
}

-- big-lattice geometry: periods per axis and a site-index function of
-- integer coordinates (already reduced modulo the periods)
local function big_geometry(fname, o, A)
  util.check_arg((o.lattice ~= nil) ~= (o.shape ~= nil), "%s: give exactly one of lattice, shape", fname)
  if o.shape then
    local L = o.shape
    util.check_arg(#L == A, "%s: shape has %d axes, the network %d", fname, #L, A)
    for a = 1, A do
      util.check_arg(type(L[a]) == "number" and L[a] >= 1 and L[a] == math.floor(L[a]),
        "%s: shape[%d] must be a positive integer", fname, a)
    end
    local N = 1
    for a = 1, A do N = N * L[a] end
    return L, N, function(p)
      local s = 0
      for a = 1, A do s = s * L[a] + p[a] end
      return s
    end
  end
  local lat = o.lattice
  util.check_arg(type(lat) == "cdata" and lat.dim ~= nil, "%s: lattice must be a tempera lattice", fname)
  util.check_arg(lat.dim == A, "%s: the lattice has %d axes, the network %d", fname, lat.dim, A)
  local L = {}
  for a = 1, A do L[a] = tonumber(lat.size[a - 1]) end
  return L, tonumber(lat.n), function(p)
    local s = lat:site(p)
    if s == nil then util.raise("%s: no lattice site at (%s): out-painting needs a square or cubic lattice",
      fname, table.concat(p, ", ")) end
    return s
  end
end

function M.outpaint(opts)
  local fname = "tp.outpaint"
  local o = util.options(fname, opts, spec)
  local net = o.net
  util.check_arg(type(net._p) == "cdata" and net.inpaint, "%s: net must be a tp.nn transformer", fname)
  local Tw, A, q = net.sites, net.axes, net.states
  -- the network's sites as integer window coordinates
  local win = o.window
  if not win then
    local side = math.floor(Tw ^ (1 / A) + 0.5)
    util.check_arg(side ^ A == Tw, "%s: give window = {Lw1, ..}: %d sites are not a cube of %d axes", fname, Tw, A)
    win = {}
    for a = 1, A do win[a] = side end
  end
  util.check_arg(type(win) == "table" and #win == A, "%s: window needs %d periods", fname, A)
  local wprod = 1
  for a = 1, A do wprod = wprod * win[a] end
  util.check_arg(wprod == Tw, "%s: window %s has %d sites, the network %d", fname, table.concat(win, "x"), wprod, Tw)
  local uc = f32_t(Tw * A)
  C.tp_net_get_coords(net._p, uc)
  local wc = {}
  for s = 0, Tw - 1 do
    local c = {}
    for a = 1, A do c[a] = math.floor(uc[s * A + a - 1] * win[a] + 0.5) % win[a] end
    wc[s] = c
  end
  local L, N, site_of = big_geometry(fname, o, A)
  local stride = {}
  for a = 1, A do
    local s = (o.stride or {})[a] or 1
    util.check_arg(type(s) == "number" and s >= 1 and s == math.floor(s), "%s: stride[%d] must be a positive integer", fname, a)
    util.check_arg(L[a] % s == 0 and L[a] >= win[a], "%s: axis %d: the lattice period %d must be >= the window %d and a multiple of the stride %d",
      fname, a, L[a], win[a], s)
    stride[a] = s
  end
  -- windows in raster order (first axis fastest): site maps and new sites
  local filled, windows = {}, {}
  local counts, nw = {}, 1
  for a = 1, A do counts[a] = L[a] / stride[a]; nw = nw * counts[a] end
  for w = 0, nw - 1 do
    local off, rem = {}, w
    for a = 1, A do off[a] = (rem % counts[a]) * stride[a]; rem = math.floor(rem / counts[a]) end
    local map, new = ffi.new("int32_t[?]", Tw), {}
    for s = 0, Tw - 1 do
      local p = {}
      for a = 1, A do p[a] = (off[a] + wc[s][a]) % L[a] end
      local b = site_of(p)
      map[s] = b
      if not filled[b] then new[#new + 1] = s; filled[b] = true end
    end
    if #new > 0 then
      -- visible given sites: with context "near", those less than half a
      -- window or at most 1 (per axis, without wrapping) from some new site, so the
      -- network's periodic wrap never shows it a site as a neighbour that
      -- is far away on the big lattice; the others are hidden (masked, not
      -- drawn)
      local fill, hide = ffi.new("uint8_t[?]", Tw), {}
      for _, s in ipairs(new) do fill[s] = 1 end
      if o.context == "near" then
        for s = 0, Tw - 1 do
          if fill[s] == 0 then
            local near = false
            for _, t in ipairs(new) do
              local ok = true
              for a = 1, A do
                local dist = math.abs(wc[s][a] - wc[t][a])
                if dist >= win[a] / 2 and dist > 1 then ok = false; break end
              end
              if ok then near = true; break end
            end
            if not near then hide[s] = true end
          end
        end
      end
      windows[#windows + 1] = { index = w, map = map, new = new, fill = fill, hide = hide, offset = off }
    end
  end
  local nfilled = 0
  for _ in pairs(filled) do nfilled = nfilled + 1 end
  util.check_arg(nfilled == N, "%s: the windows cover %d of %d sites", fname, nfilled, N)

  local n = o.n
  local truth
  if o.truth ~= nil then
    util.check_arg(type(o.truth) == "cdata" or type(o.truth) == "table", "%s: truth must be a uint8_t array or a table", fname)
    truth = o.truth
    if type(truth) == "table" then
      local t = u8_t(n * N)
      for i = 1, n * N do t[i - 1] = truth[i] end
      truth = t
    end
  end
  local seed = ffi.cast("uint64_t", o.seed or require("tempera.run").seed())
  local stream = o.stream
  if not stream then stream = auto_stream; auto_stream = auto_stream + n end
  local x, logq = u8_t(n * N), f64_t(n)
  local part, tw, lq = u8_t(math.max(n, 1) * Tw), truth and u8_t(math.max(n, 1) * Tw) or nil, f64_t(math.max(n, 1))
  local fill = u8_t(math.max(n, 1) * Tw)
  local isfilled = ffi.new("uint8_t[?]", N)
  for k, W in ipairs(windows) do
    local map, hide = W.map, W.hide
    -- rows of the window: visible filled sites given, the rest masked
    for r = 0, n - 1 do
      local xr, pr = r * N, r * Tw
      ffi.copy(fill + pr, W.fill, Tw)
      for s = 0, Tw - 1 do
        local b = map[s]
        part[pr + s] = (isfilled[b] == 1 and not hide[s]) and x[xr + b] or q
        if tw then tw[pr + s] = truth[xr + b] end
      end
    end
    local out = net:inpaint(part, n, { out = part, logq = lq, truth = tw, fill = fill, ema = o.ema,
      seed = seed + W.index * GOLDEN, stream = stream })
    for r = 0, n - 1 do
      local xr, pr = r * N, r * Tw
      for _, s in ipairs(W.new) do x[xr + map[s]] = out[pr + s] end
      logq[r] = logq[r] + lq[r]
    end
    for _, s in ipairs(W.new) do isfilled[map[s]] = 1 end
    if o.progress then o.progress:update(k) end
  end
  return { x = x, logq = logq, n = n, sites = N, windows = #windows, window = win, stride = stride }
end

-- log weights -beta E - logq, normalised weights and NESS of an
-- out-painted batch r (from tp.outpaint) under model at beta
function M.weights(r, model, beta)
  util.check_arg(type(model) == "table" and model.energies, "tp.outpaint.weights: model must be a tp.model")
  util.check_arg(model.n == r.sites, "tp.outpaint.weights: the model has %d sites, the batch %d", model.n, r.sites)
  local e = model:energies(r.x, r.n)
  local lw = f64_t(r.n)
  for i = 0, r.n - 1 do lw[i] = -beta * e[i] - r.logq[i] end
  local w, ness = require("tempera.nn").softmax_weights(lw, r.n)
  return w, ness, e, lw
end

setmetatable(M, { __call = function(_, ...) return M.outpaint(...) end })

util.doc(M, [[
tp.outpaint{ net =, lattice = big | shape = {L1, ..}, window = {Lw1, ..}, stride = {1, ..},
             n =, context = "near" | "all", ema = true, seed =, stream =, truth = }
  Fill a big periodic lattice window by window with a network trained on the window's
  lattice: filled sites given, the rest in-painted (net:inpaint).
  -> { x = uint8_t[n*N], logq = double[n] (exact log-likelihood of the whole process),
       n, sites = N, windows = windows used }
tp.outpaint.weights(r, model, beta) -> w (normalised), NESS, energies, log w = -beta E - log
man tempera-nn; the method: tempera-methods.]])

return M
