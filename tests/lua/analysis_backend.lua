-- tp.analysis routes moments, histograms, bootstrap, PMFs, RMSE and JS
-- through the chosen backend.  Without a CUDA device, asking for 'cuda'
-- is an error at the recipe's line (never a silent CPU fall back); with
-- one, the CUDA results equal the CPU's up to summation order.
local tp = require "tempera"
local ffi = require "ffi"
local A = tp.analysis
local C = require("tempera.ffi").C

-- data: 3000 values in [-1, 1] with log-weights in [-30, 30]
local n = 3000
local x, lw = ffi.new("double[?]", n), ffi.new("double[?]", n)
for i = 0, n - 1 do
  x[i] = math.sin(0.37 * i) * 0.999
  lw[i] = 30 * math.cos(0.011 * i * i)
end

local function close(a, b, what)
  local ok = (a == b) or math.abs(a - b) <= 1e-12 + 1e-10 * math.abs(b)
  assert(ok, ("%s: %.17g vs %.17g"):format(what, a, b))
end

-- every routed function on one backend -> a table of numbers
local function run(backend)
  local st = A.stats{ backend = backend, bootstrap = 16, seed = 3, block = 5 }
  st:add(x, lw, 1700); st:add(x + 1700, lw + 1700, n - 1700)
  local h = A.hist{ backend = backend, range = { -1, 1 }, bins = 20, bootstrap = 16, seed = 3 }
  h:add(x, lw, n)
  local F, dF = h:pmf(0.5)
  local u = A.hist{ backend = backend, range = { -1, 1 }, bins = 20 }
  u:add(x, nil, n)
  local V = {}
  for k = 1, 41 do V[k] = math.cos(0.2 * k) end
  local G = A.pmf_from_bias(V, 6, { backend = backend })
  local rmse, used = A.pmf_rmse(F, A.pmf(u:counts(), 0.5, { backend = backend }), { backend = backend })
  local s = st:summary()
  return { mean = s.mean, var = s.var, ness = s.ness, err_mean = s.err.mean, err_var = s.err.var,
    F = F, dF = dF, G = G, rmse = rmse, used = used, js = A.js(h, u, { backend = backend }) }
end

local cpu = run("cpu")
assert(cpu.used >= 15 and cpu.rmse > 0, "the CPU run must compare PMFs on most bins")
assert(cpu.err_mean > 0 and cpu.js > 0, "bootstrap error and JS must be positive on these data")
-- the default backend is the CPU: the same numbers
local dflt = A.stats{ bootstrap = 16, seed = 3, block = 5 }
dflt:add(x, lw, n)
close(dflt:summary().err.mean, cpu.err_mean, "default backend bootstrap")

if C.tp_cuda_device_count() > 0 then
  local gpu = run("cuda")
  for _, k in ipairs { "mean", "var", "ness", "err_mean", "err_var", "rmse", "js" } do close(gpu[k], cpu[k], k) end
  assert(gpu.used == cpu.used, "bins compared")
  for i = 1, #cpu.F do
    if cpu.F[i] ~= math.huge then close(gpu.F[i], cpu.F[i], "F[" .. i .. "]") end
    if cpu.dF[i] == cpu.dF[i] then close(gpu.dF[i], cpu.dF[i], "dF[" .. i .. "]") end
  end
  for i = 1, #cpu.G do close(gpu.G[i], cpu.G[i], "G[" .. i .. "]") end
  print("analysis_backend: CUDA matches the CPU")
else
  -- f raises in a (non-tail) call on the line that calls fails(): the
  -- error must name that line of this file
  local function fails(what, f)
    local line = debug.getinfo(2, "l").currentline
    local ok, err = pcall(f)
    assert(not ok, what .. ": 'cuda' without a device must fail")
    local want = "analysis_backend.lua:" .. line .. ": "
    assert(tostring(err):find(want, 1, true), ("%s: error %q should name line %d"):format(what, tostring(err), line))
    assert(tostring(err):find("backend 'cuda' needs a CUDA device", 1, true), what .. ": unclear message " .. tostring(err))
  end
  fails("stats", function() local r = A.stats{ backend = "cuda", bootstrap = 8 }; return r end)
  fails("hist", function() local r = A.hist{ backend = "cuda", range = { 0, 1 }, bins = 4 }; return r end)
  fails("hist2d", function() local r = A.hist2d{ backend = "cuda", range = { { 0, 1 }, { 0, 1 } }, bins = { 2, 2 } }; return r end)
  fails("corr", function() local r = A.corr{ backend = "cuda", L = 4 }; return r end)
  fails("js", function() local r = A.js({ 1, 2 }, { 2, 1 }, { backend = "cuda" }); return r end)
  fails("pmf", function() local r = A.pmf({ 1, 2 }, 1.0, { backend = "cuda" }); return r end)
  fails("pmf_from_bias", function() local r = A.pmf_from_bias({ 1, 2 }, 5, { backend = "cuda" }); return r end)
  fails("pmf_rmse", function() local r = A.pmf_rmse({ 1, 2 }, { 2, 1 }, { backend = "cuda" }); return r end)
  -- A.default_backend applies wherever no backend is given (tp.report's statistics too)
  A.default_backend = "cuda"
  fails("default backend", function() local r = A.stats{}; return r end)
  local ro = { samples = { x = ffi.new("uint8_t[4]"), n = 1 }, reweight = "none", beta = 1,
    model = tp.model.ising{ lattice = tp.lattice.square(2) }, out = (os.getenv("TMPDIR") or "/tmp") .. "/rw_backend_none" }
  fails("report", function() local r = tp.report(ro); return r end)
  A.default_backend = nil
  -- the C entry points themselves refuse too, with a message
  local out = ffi.new("double[2]")
  local st = C.tp_rw_js_cuda(out, ffi.new("double[2]", 1, 2), ffi.new("double[2]", 2, 1), 2, nil)
  assert(st == C.TP_ERR_NO_CUDA, "tp_rw_js_cuda without a device: status " .. tostring(st))
  assert(ffi.string(C.tp_last_error()):find("CUDA"), "tp_rw_js_cuda: message")
end
-- an unknown backend is an argument error too
local ok, err = pcall(A.stats, { backend = "tpu" })
assert(not ok and tostring(err):find("backend must be 'cpu' or 'cuda'"), tostring(err))
