-- Writing PLUMED files as runs go: tp.mc.metad{ hills =, colvar = } writes
-- one HILLS.<k> and COLVAR.<k> per walker (chain), PLUMED's multiple-walkers
-- layout, with time in sweeps and the units in "#! SET" lines; the hills of
-- all walkers summed give the bias grid itself (1e-9), reflecting walls
-- included (a hill by a wall is written with its image); recording does not
-- change the run (bias bit-identical); tp.train.metadns{ hills = } does the
-- same for the neural sampler's deposits (plain and importance-weighted),
-- and tp.plumed.hills records a hand-written loop with the bias object.
local tp = require "tempera"
local ffi = require "ffi"
local P = tp.plumed
tp.threads(1)

local lat = tp.lattice.square(4)
local model = tp.model.ising{ lattice = lat }
local m = tp.cv.magnetization(lat)
local beta = 0.6
local function bias() return tp.bias.grid{ cv = m, points = 33, sigma = 0.1, height = 0.5, bias_factor = 8, beta = beta } end

-- the hills of several files summed on b's grid, against b's values
local function check_sum(files, b, what)
  local total = ffi.new("double[?]", b.size)
  local rows = 0
  for _, f in ipairs(files) do
    local h = assert(P.read_hills(f))
    local V = h:sum_bias(b)
    for j = 0, b.size - 1 do total[j] = total[j] + V[j] end
    rows = rows + h.n
  end
  local v, worst, vmax = b:values(), 0, 0
  for j = 0, b.size - 1 do
    worst = math.max(worst, math.abs(total[j] - v[j]))
    vmax = math.max(vmax, v[j])
  end
  assert(vmax > 0.3, what .. ": a real bias")
  assert(worst < 1e-9 * vmax, string.format("%s: hills sum differs from the bias grid by %.3g (max V %.3g)", what, worst, vmax))
  return rows
end

-- ---- tp.mc.metad, 4 walkers -----------------------------------------------------------
local B, cycles, pace = 4, 12, 2
local b1, b2 = bias(), bias()
tp.mc.metad{ model = model, cv = m, bias = b1, beta = beta, chains = B, pace = pace, cycles = cycles, seed = 5,
  progress = false }
local run = tp.mc.metad{ model = model, cv = m, bias = b2, beta = beta, chains = B, pace = pace, cycles = cycles,
  seed = 5, progress = false, hills = "w.HILLS", colvar = "w.COLVAR" }
local v1, v2 = b1:values(), b2:values()
for j = 0, b1.size - 1 do assert(v1[j] == v2[j], "recording the hills changed the bias at " .. j) end
assert(b2:info().ncycles == cycles and b2:info().nhills == B * cycles)
assert(io.open("w.HILLS") == nil, "several walkers: no plain HILLS file")
local files = {}
for k = 0, B - 1 do
  files[k + 1] = "w.HILLS." .. k
  local t = assert(P.read(files[k + 1]))
  assert(t.set.energy_unit == "J" and t.set.time_unit == "sweep" and t.set.kerneltype == "gaussian", "SET lines")
  assert(t.fields[2] == m.name and t.fields[3] == "sigma_" .. m.name, table.concat(t.fields, " "))
  local time = t:column("time")
  assert(time[0] == pace and time[t.rows - 1] == pace * cycles, "time in sweeps")
  for r = 1, t.rows - 1 do assert(time[r] >= time[r - 1], "time must not go back") end
  assert(t.rows >= cycles, "one hill per cycle per walker (plus wall images)")
  -- COLVAR: each cycle's CV and the bias there before the cycle's hills
  local c = assert(P.read("w.COLVAR." .. k))
  assert(c.rows == cycles and c.fields[1] == "time" and c.fields[2] == m.name and c.fields[3] == "metad.bias",
    table.concat(c.fields, " "))
  assert(c:column("metad.bias")[0] == 0 and c:column("time")[cycles - 1] == pace * cycles)
  -- the walker's first hill sits at its first COLVAR value
  assert(c:column(m.name)[0] == t:column(m.name)[0])
end
local rows = check_sum(files, b2, "tp.mc.metad")
assert(rows > B * cycles, "walls auto: hills by the wall come with their images")
assert(run.plumed.rows == rows)

-- one chain: the plain file name
local b3 = bias()
tp.mc.metad{ model = model, cv = m, bias = b3, beta = beta, chains = 1, pace = 1, cycles = 6, seed = 2, progress = false,
  hills = "one.HILLS" }
check_sum({ "one.HILLS" }, b3, "one walker")
-- a second run with the same name starts the files afresh
tp.mc.metad{ model = model, cv = m, bias = bias(), beta = beta, chains = 1, pace = 1, cycles = 2, seed = 2,
  progress = false, hills = "one.HILLS" }
assert(P.read("one.HILLS").rows <= 2 * 3)

-- no walls: one row per hill
local b4 = tp.bias.grid{ cv = m, points = 33, sigma = 0.1, height = 0.5, bias_factor = 8, beta = beta, walls = "none" }
tp.mc.metad{ model = model, cv = m, bias = b4, beta = beta, chains = 2, pace = 1, cycles = 5, seed = 3, progress = false,
  hills = "nowall.HILLS" }
assert(check_sum({ "nowall.HILLS.0", "nowall.HILLS.1" }, b4, "no walls") == 10)

-- ---- tp.train.metadns -----------------------------------------------------------------
local lat3 = tp.lattice.square(3)
local model3 = tp.model.ising{ lattice = lat3 }
local m3 = tp.cv.magnetization(lat3)
for _, mode in ipairs { "uniform", "weighted" } do
  local net = tp.nn.transformer{ lattice = lat3, states = 2, embed = 8, depth = 1, heads = 2, seed = 1, backend = "cpu" }
  local b = tp.bias.grid{ cv = m3, points = 19, sigma = 0.15, height = 1, bias_factor = 10, beta = 0.7 }
  local tr = tp.train.metadns{ net = net, model = model3, beta = 0.7, bias = b, batch = 8, replicates = 2,
    resample_every = 2, steps = 10, seed = 3, progress = false, deposit = mode, hills = "t.HILLS", colvar = "t.COLVAR" }
  local t = assert(P.read("t.HILLS"))
  assert(t.set.time_unit == "step" and t.set.energy_unit == "J")
  local time = t:column("time")
  assert(time[0] == 0 and time[t.rows - 1] == 8, "time: optimiser steps when the cycle deposited")
  check_sum({ "t.HILLS" }, b, "tp.train.metadns " .. mode)
  assert(P.read("t.COLVAR").rows == 8 * 5)
  tr:close()
end
local okm, errm = pcall(tp.train.mdns, { net = tp.nn.transformer{ lattice = lat3, states = 2, embed = 8, depth = 1,
  heads = 2, seed = 1, backend = "cpu" }, model = model3, beta = 0.7, steps = 1, progress = false, hills = "x.HILLS" })
assert(not okm and tostring(errm):find("bias"), tostring(errm))

-- ---- tp.plumed.hills: a hand-written loop, with the bias object ----------------------
local b5 = bias()
local rec = P.hills("loop.HILLS", { bias = b5, cv = { "mag" } })
local s = ffi.new("double[3]", -0.5, 0.25, 1.0)
for _ = 1, 4 do rec:deposit(s, 3) end
assert(rec.hills == 12 and b5:info().ncycles == 4)
check_sum({ "loop.HILLS" }, b5, "tp.plumed.hills")

-- ---- rows kept in memory: written at flush, and when the writer is collected --------
local bg = bias()
local wg = P.writer{ bias = bg, hills = "gc.HILLS", colvar = "gc.COLVAR", cv = { "m" } }
for t = 1, 4 do wg:cycle(ffi.new("double[2]", -0.2, 0.3), 2, nil, t) end
local t0 = P.read("gc.HILLS")
assert(t0 == nil or t0.rows == 0, "rows are kept in memory until a flush")
wg = nil
collectgarbage(); collectgarbage()
assert(P.read("gc.HILLS").rows >= 8 and P.read("gc.COLVAR").rows == 8, "a collected writer writes what it kept")
check_sum({ "gc.HILLS" }, bg, "collected writer")
os.remove("gc.HILLS"); os.remove("gc.COLVAR")

-- ---- refused -------------------------------------------------------------------------
local bd = tp.bias.grid{ cv = m, points = 33, kernel = "delta", height = 0.5, bias_factor = 8, beta = beta }
local ok, err = pcall(tp.mc.metad, { model = model, cv = m, bias = bd, beta = beta, chains = 2, cycles = 1,
  progress = false, hills = "d.HILLS" })
assert(not ok and tostring(err):find("delta kernel"), tostring(err))
ok, err = pcall(P.writer, { bias = b5, hills = "x", cv = { "a b" } })
assert(not ok and tostring(err):find("letters, digits"), tostring(err))

for _, f in ipairs { "one.HILLS", "loop.HILLS", "t.HILLS", "t.COLVAR", "nowall.HILLS.0", "nowall.HILLS.1" } do os.remove(f) end
for k = 0, B - 1 do os.remove("w.HILLS." .. k); os.remove("w.COLVAR." .. k) end
print("plumed_write: ok")
