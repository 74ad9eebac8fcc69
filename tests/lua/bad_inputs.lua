-- Table-driven bad input over the public constructors and methods: wrong
-- types, NaN and infinities, zero, negative, fractional and huge sizes,
-- objects built on another lattice, arrays shorter than their counts.
-- Every case must raise an error (no crash under AddressSanitizer, no hang,
-- no silent result) that names this file's line and says what was wrong
-- in the caller's terms: no stdlib position, no raw Lua or FFI message.
local tp = require "tempera"
local ffi = require "ffi"

local nan, inf = 0 / 0, math.huge
local lat4, lat8, lat3 = tp.lattice.square(4), tp.lattice.square(8), tp.lattice.square(3)
local ising4 = tp.model.ising{ lattice = lat4 }
local potts4 = tp.model.potts{ lattice = lat4, q = 3 }
local m4, m8 = tp.cv.magnetization(lat4), tp.cv.magnetization(lat8)
local bias4 = tp.bias.grid{ cv = m4, points = 17, sigma = 0.1, height = 1, beta = 1 }
local bias8 = tp.bias.grid{ cv = m8, points = 17, sigma = 0.1, height = 1, beta = 1 }
local net4 = tp.nn.transformer{ lattice = lat4, states = 2, embed = 8, depth = 1, heads = 2, seed = 1, backend = "cpu" }
local chains4 = tp.mc.chains{ model = ising4, chains = 2, seed = 1 }

local RAW = { "stdlib/tempera/", "attempt to ", "bad argument #", "size of C type", "table expected",
  "number expected", "error inside tempera" }

local cases = {
  -- lattices
  { "square(0)", function() return tp.lattice.square(0) end },
  { "square(-3)", function() return tp.lattice.square(-3) end },
  { "square(2.5)", function() return tp.lattice.square(2.5) end },
  { "square(nan)", function() return tp.lattice.square(nan) end },
  { "square(inf)", function() return tp.lattice.square(inf) end },
  { "square(1e9)", function() return tp.lattice.square(1e9) end },
  { "square('4')", function() return tp.lattice.square("four") end },
  { "cubic(0)", function() return tp.lattice.cubic(0) end },
  { "fcc(nan)", function() return tp.lattice.fcc(nan) end },
  { "custom nan cell", function() return tp.lattice.custom{ cell = { { nan, 0 }, { 0, 1 } }, size = { 4, 4 } } end },
  { "custom inf cell", function() return tp.lattice.custom{ cell = { { inf, 0 }, { 0, 1 } }, size = { 4, 4 } } end },
  { "custom size 0", function() return tp.lattice.custom{ cell = { { 1, 0 }, { 0, 1 } }, size = { 0, 4 } } end },
  { "custom no cell", function() return tp.lattice.custom{ size = { 4, 4 } } end },
  -- models
  { "ising no lattice", function() return tp.model.ising{} end },
  { "ising lattice string", function() return tp.model.ising{ lattice = "square" } end },
  { "ising J nan", function() return tp.model.ising{ lattice = lat4, J = nan } end },
  { "ising h inf", function() return tp.model.ising{ lattice = lat4, h = inf } end },
  { "potts q 1", function() return tp.model.potts{ lattice = lat4, q = 1 } end },
  { "potts q 1e6", function() return tp.model.potts{ lattice = lat4, q = 1e6 } end },
  { "potts q 2.5", function() return tp.model.potts{ lattice = lat4, q = 2.5 } end },
  { "lua model no energy", function() return tp.model.lua{ lattice = lat4, states = 2 } end },
  { "model:energy short config", function() return ising4:energy(ffi.new("uint8_t[9]")) end },
  { "model:energy table", function() return ising4:energy({ 1, 0 }) end },
  { "model:de huge site", function() return ising4:de(lat4:config(), 1e8, 1) end },
  { "model:energies negative n", function() return ising4:energies(ffi.new("uint8_t[16]"), -1) end },
  -- collective variables
  { "cv on nil", function() return tp.cv.magnetization(nil) end },
  { "cv.fraction token 5 of 2", function() return tp.cv.fraction(lat4, 5, 2) end },
  { "cv.fractions q 0", function() return tp.cv.fractions(lat4, 0) end },
  -- exact enumeration
  { "exact mismatched cv", function() return tp.exact(ising4, 0.5, { cv = m8 }) end },
  { "exact beta nan", function() return tp.exact(ising4, nan) end },
  { "exact too many states", function() return tp.exact(tp.model.ising{ lattice = lat8 }, 0.5) end },
  -- Monte Carlo
  { "chains 0", function() return tp.mc.chains{ model = ising4, chains = 0 } end },
  { "chains 1.5", function() return tp.mc.chains{ model = ising4, chains = 1.5 } end },
  { "chains huge", function() return tp.mc.chains{ model = ising4, chains = 1e12 } end },
  { "sample beta nan", function() return tp.mc.sample{ model = ising4, beta = nan, samples = 10 } end },
  { "sample beta inf", function() return tp.mc.sample{ model = ising4, beta = inf, samples = 10 } end },
  { "sample samples -5", function() return tp.mc.sample{ model = ising4, beta = 0.4, samples = -5 } end },
  { "sample samples 1e12", function() return tp.mc.sample{ model = ising4, beta = 0.4, samples = 1e12 } end },
  { "sample cv other lattice", function() return tp.mc.sample{ model = ising4, beta = 0.4, samples = 10, cv = m8 } end },
  { "sample cv 3x3 on 4x4", function()
    return tp.mc.sample{ model = ising4, beta = 0.4, samples = 10, cv = tp.cv.magnetization(lat3) } end },
  { "sample model string", function() return tp.mc.sample{ model = "ising", beta = 0.4, samples = 10 } end },
  { "chains:sweep -1", function() return chains4:sweep(0.4, -1) end },
  { "chains:sweep 1e20", function() return chains4:sweep(0.4, 1e20) end },
  { "metad bias other lattice", function()
    return tp.mc.metad{ model = ising4, cv = m4, bias = bias8, beta = 0.5, cycles = 2 } end },
  { "metad cycles -1", function() return tp.mc.metad{ model = ising4, cv = m4, bias = bias4, beta = 0.5, cycles = -1 } end },
  { "metad chains 0", function()
    return tp.mc.metad{ model = ising4, cv = m4, bias = bias4, beta = 0.5, cycles = 2, chains = 0 } end },
  -- bias
  { "bias points 0", function() return tp.bias.grid{ cv = m4, points = 0, sigma = 0.1, height = 1, beta = 1 } end },
  { "bias points 1e12", function() return tp.bias.grid{ cv = m4, points = 1e12, sigma = 0.1, height = 1, beta = 1 } end },
  { "bias sigma nan", function() return tp.bias.grid{ cv = m4, points = 17, sigma = nan, height = 1, beta = 1 } end },
  { "bias sigma -1", function() return tp.bias.grid{ cv = m4, points = 17, sigma = -1, height = 1, beta = 1 } end },
  { "bias height inf", function() return tp.bias.grid{ cv = m4, points = 17, sigma = 0.1, height = inf, beta = 1 } end },
  { "bias:deposit short", function() return bias4:deposit(ffi.new("double[1]"), 1e8) end },
  { "bias:deposit nan count", function() return bias4:deposit(ffi.new("double[1]"), nan) end },
  { "bias:value table", function() return bias4:value("x") end },
  { "bias.load missing", function() return tp.bias.load("/nonexistent/bias.tpb") end },
  -- networks and training
  { "transformer embed 0", function()
    return tp.nn.transformer{ lattice = lat4, states = 2, embed = 0, depth = 1, heads = 2, backend = "cpu" } end },
  { "transformer heads not dividing", function()
    return tp.nn.transformer{ lattice = lat4, states = 2, embed = 10, depth = 1, heads = 3, backend = "cpu" } end },
  { "transformer states 1", function()
    return tp.nn.transformer{ lattice = lat4, states = 1, embed = 8, depth = 1, heads = 2, backend = "cpu" } end },
  { "transformer depth nan", function()
    return tp.nn.transformer{ lattice = lat4, states = 2, embed = 8, depth = nan, heads = 2, backend = "cpu" } end },
  { "net:sample -1", function() return net4:sample(-1) end },
  { "net:sample 1.5", function() return net4:sample(1.5) end },
  { "net:sample 1e12", function() return net4:sample(1e12) end },
  { "net:log_prob short", function() return net4:log_prob(ffi.new("uint8_t[16]"), 4) end },
  { "mdns batch 0", function() return tp.train.mdns{ net = net4, model = ising4, beta = 0.5, batch = 0, steps = 1 } end },
  { "mdns batch 1e12", function() return tp.train.mdns{ net = net4, model = ising4, beta = 0.5, batch = 1e12, steps = 1 } end },
  { "mdns beta nan", function() return tp.train.mdns{ net = net4, model = ising4, beta = nan, steps = 1 } end },
  { "mdns lr inf", function() return tp.train.mdns{ net = net4, model = ising4, beta = 0.5, lr = inf, steps = 1 } end },
  { "mdns steps -1", function() return tp.train.mdns{ net = net4, model = ising4, beta = 0.5, steps = -1 } end },
  { "mdns net of another lattice", function()
    return tp.train.mdns{ net = net4, model = tp.model.ising{ lattice = lat8 }, beta = 0.5, steps = 1 } end },
  { "metadns bias other lattice", function()
    return tp.train.metadns{ net = net4, model = ising4, beta = 0.5, cv = m4, bias = bias8, steps = 1 } end },
  -- analysis
  { "analysis.js short", function() return tp.analysis.js(ffi.new("double[2]"), ffi.new("double[2]"), 100) end },
  { "analysis.weights n -1", function() return tp.analysis.weights(ffi.new("double[2]"), -1) end },
  { "analysis.weights short", function() return tp.analysis.weights(ffi.new("double[2]"), 1e6) end },
  { "analysis.mean short", function() return tp.analysis.mean(ffi.new("double[2]"), nil, 1e6) end },
  { "analysis.mean fractional n", function() return tp.analysis.mean(ffi.new("double[2]"), nil, 1.5) end },
  { "analysis.corr:add short", function()
    return tp.analysis.corr{ L = 4, q = 2 }:add(ffi.new("uint8_t[16]"), nil, 4) end },
  { "observables.stats short", function() return tp.observables.stats(ffi.new("double[4]"), 2, 100) end },
  { "observables.stats T 0", function() return tp.observables.stats(ffi.new("double[4]"), 2, 0) end },
  -- files
  { "dump.open bad field type", function() return tp.dump.open("bad.tpd", { fields = { { name = "a", type = "f128" } } }) end },
  { "dump.open config states 1", function()
    return tp.dump.open("bad.tpd", { fields = { { name = "a", type = "config", width = 4, states = 1 } } }) end },
  { "dump.open width 0", function() return tp.dump.open("bad.tpd", { fields = { { name = "a", type = "f64", width = 0 } } }) end },
  { "dump.open width huge", function()
    return tp.dump.open("bad.tpd", { fields = { { name = "a", type = "f64", width = 1e12 } } }) end },
  { "dump.read missing", function() assert(tp.dump.read("/nonexistent.tpd")) end },
  { "plumed.write stride", function()
    return tp.plumed.write("p.dat", { fields = { "a" }, columns = { a = ffi.new("double[4]") }, rows = 4, strides = { a = 1e8 } }) end },
  { "params.int fraction", function() return tp.params.int(2.5) end },
  { "out empty", function() return tp.out("") end },
  { "threads -1", function() return tp.threads(-1) end },
  { "rng stream nan", function() return tp.rng(nan) end },
}

-- readers that return nil and a message (as io.open does) name the path
for _, f in ipairs{ function() return tp.nn.load("/nonexistent/run.ckpt") end,
                    function() return tp.plumed.read("/nonexistent/COLVAR") end,
                    function() return tp.dump.read("/nonexistent/x.tpd") end } do
  local v, e = f()
  assert(v == nil and type(e) == "string" and e:find("/nonexistent/", 1, true), tostring(e))
end

local bad = {}
for i, c in ipairs(cases) do
  local name, f = c[1], c[2]
  local line = debug.getinfo(f, "S").linedefined
  local ok, err = pcall(f)
  err = tostring(err)
  local why
  if ok then why = "no error"
  elseif not err:find("bad_inputs.lua:%d+") then why = "error not at the caller's line"
  else
    for _, r in ipairs(RAW) do
      if err:find(r, 1, true) then why = "raw message ('" .. r .. "')"; break end
    end
  end
  if why then bad[#bad + 1] = string.format("  line %d %s: %s: %s", line, name, why, err) end
end
if #bad > 0 then error(#bad .. " of " .. #cases .. " bad inputs not refused properly:\n" .. table.concat(bad, "\n"), 0) end
print(string.format("%d bad inputs refused at the caller's line", #cases))
