-- tests/bench/models.lua -- single-site dE evaluations per second, built-in
-- C models against the same energies written in Lua (tempera-models(5); the
-- goal is Lua within 2x of C).  Prints numbers; not a timed test.
--   bin/tempera run tests/bench/models.lua [--set evals=2000000]
-- Both columns run the same Lua loop over precomputed random (site, state)
-- proposals on one random configuration: "built-in C" calls tp_model_de
-- through the FFI (what a Lua-driven sampler does), "Lua" calls the
-- recipe's own de function.  One thread.
local tp = require "tempera"
local ffi = require "ffi"
local C = require("tempera.ffi").C

local P = tp.params{ evals = 2000000, seed = 7 }
tp.threads(1)
local function clock() return C.tp_clock() end

local function bench(name, model, lua_de, q)
  local lat = model.lattice
  local n, N = lat.n, P.evals
  local r = tp.rng(1)
  local x = lat:config()
  for i = 0, n - 1 do x[i] = r:below(q) end
  local sites, states = ffi.new("int32_t[?]", N), ffi.new("uint8_t[?]", N)
  for k = 0, N - 1 do sites[k] = r:below(n); states[k] = r:below(q) end

  -- a fresh copy of the timing loop per measurement: LuaJIT traces per
  -- bytecode, so a shared loop would stay specialised to the first de
  local function run(f)
    local loop = loadstring([[
      local f, x, sites, states, N, clock = ...
      local t0, acc = clock(), 0
      for k = 0, N - 1 do acc = acc + f(x, sites[k], states[k]) end
      return N / (clock() - t0), acc]], "=models.lua timing loop")
    return loop(f, x, sites, states, N, clock)
  end
  local c = model.c
  local rate_c, acc_c = run(function(y, i, s) return C.tp_model_de(c, y, i, s) end)
  local rate_l, acc_l = run(lua_de)
  assert(math.abs(acc_c - acc_l) <= 1e-9 * (1 + math.abs(acc_c)), name .. ": Lua and C disagree")
  print(string.format("%-14s built-in C %7.1f M dE/s   Lua %7.1f M dE/s   C/Lua %.2fx",
    name, rate_c / 1e6, rate_l / 1e6, rate_c / rate_l))
end

-- Ising 64x64
do
  local lat = tp.lattice.square(64)
  local model = tp.model.ising{ lattice = lat, J = 1 }
  local nb, z = lat:neighbors(1)
  local function de(x, i, s)
    if s == x[i] then return 0 end
    local f = 0
    for k = 0, z - 1 do f = f + 2 * x[nb[i * z + k]] - 1 end
    return 2 * (2 * x[i] - 1) * f
  end
  bench("ising 64x64", model, de, 2)
end

-- Potts q = 3, 64x64
do
  local lat = tp.lattice.square(64)
  local model = tp.model.potts{ lattice = lat, q = 3, J = 1 }
  local nb, z = lat:neighbors(1)
  local eq = ffi.new("int32_t[16]")
  for t = 0, 3 do eq[4 * t + t] = 1 end
  local function de(x, i, s)
    local a = x[i]
    if s == a then return 0 end
    -- delta(v, s) - delta(v, a) by table lookup instead of branches (a
    -- data-dependent branch would leave LuaJIT's trace): eq_t[v] = (v == t)
    local d, es, ea = 0, 4 * s, 4 * a
    for k = 0, z - 1 do
      local v = x[nb[i * z + k]]
      d = d + eq[es + v] - eq[ea + v]
    end
    return -d
  end
  bench("potts3 64x64", model, de, 3)
end

-- Cu-Au 4x4x4: the same cluster expansion in Lua, from the wrapped figures
-- (tp_model_ce_terms).  Per site, the figures containing it are merged by
-- their other sites and grouped by size, so each group is a fixed-shape loop.
do
  local lat = tp.lattice.fcc{ n = { 4, 4, 4 } }
  local model = tp.model.cluster_expansion{ lattice = lat, ce = "cuau" }
  local n = lat.n
  local merged = {}           -- merged[i][key] = { coef, others }
  for i = 0, n - 1 do merged[i] = {} end
  for a, cl in ipairs(model.clusters) do
    local k, m = cl.size, cl.multiplicity
    if k >= 1 then
      local T = ffi.new("int32_t[?]", n * m * k)
      assert(C.tp_model_ce_terms(model.c, a - 1, T) == 0)
      for t = 0, n * m - 1 do
        for p = 0, k - 1 do
          local i, others = T[t * k + p], {}
          for u = 0, k - 1 do
            if u ~= p then
              assert(T[t * k + u] ~= i, "figure wraps onto itself: use a larger cell")
              others[#others + 1] = T[t * k + u]
            end
          end
          table.sort(others)
          local key = table.concat(others, ",")
          local e = merged[i][key]
          if not e then e = { 0, others }; merged[i][key] = e end
          e[1] = e[1] + cl.eci / m
        end
      end
    end
  end
  -- groups by number of other sites (0..3): start[g][i], coef[g][], oth[g][]
  local start, coef, oth = {}, {}, {}
  for g = 0, 3 do
    local lists = {}
    local total = 0
    for i = 0, n - 1 do
      lists[i] = {}
      for _, e in pairs(merged[i]) do
        if #e[2] == g then lists[i][#lists[i] + 1] = e end
      end
      table.sort(lists[i], function(u, v) return table.concat(u[2], ",") < table.concat(v[2], ",") end)
      total = total + #lists[i]
    end
    start[g], coef[g], oth[g] = ffi.new("int32_t[?]", n + 1), ffi.new("double[?]", total), ffi.new("int32_t[?]", total * math.max(g, 1))
    local w = 0
    for i = 0, n - 1 do
      start[g][i] = w
      for _, e in ipairs(lists[i]) do
        coef[g][w] = e[1]
        for u = 1, g do oth[g][w * g + u - 1] = e[2][u] end
        w = w + 1
      end
    end
    start[g][n] = w
  end
  local s0, c0 = start[0], coef[0]
  local s1, c1, o1 = start[1], coef[1], oth[1]
  local s2, c2, o2 = start[2], coef[2], oth[2]
  local s3, c3, o3 = start[3], coef[3], oth[3]
  local ecu, eau = ffi.new("double[1]"), ffi.new("double[1]")
  assert(C.tp_model_ce_reference(model.c, ecu, eau) == 0)
  local dref = (eau[0] - ecu[0]) / n
  local function de(x, i, s)
    local a = x[i]
    if s == a then return 0 end
    local sum = 0
    for e = s0[i], s0[i + 1] - 1 do sum = sum + c0[e] end
    for e = s1[i], s1[i + 1] - 1 do sum = sum + c1[e] * (2 * x[o1[e]] - 1) end
    for e = s2[i], s2[i + 1] - 1 do
      sum = sum + c2[e] * (2 * x[o2[2 * e]] - 1) * (2 * x[o2[2 * e + 1]] - 1)
    end
    for e = s3[i], s3[i + 1] - 1 do
      sum = sum + c3[e] * (2 * x[o3[3 * e]] - 1) * (2 * x[o3[3 * e + 1]] - 1) * (2 * x[o3[3 * e + 2]] - 1)
    end
    local si = 2 * a - 1
    return -2 * si * sum + si * dref
  end
  bench("cuau 4x4x4", model, de, 2)
end
