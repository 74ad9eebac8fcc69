-- Counts larger than the arrays they describe are refused with a message
-- instead of reading or writing past the array (each of these crashed the
-- host under AddressSanitizer, or wrote garbage into files): model:de with
-- a site or state out of range or a short configuration, dump:append_batch,
-- bias:deposit, tp.plumed.write with a stride past the column.
local tp = require "tempera"
local ffi = require "ffi"

local function fails(f, want)
  local ok, err = pcall(f)
  assert(not ok, "expected an error with '" .. want .. "'")
  assert(tostring(err):find(want, 1, true), "expected '" .. want .. "', got " .. tostring(err))
end

local lat = tp.lattice.square(4)
local m = tp.model.ising{ lattice = lat }
local x = ffi.new("uint8_t[16]")
assert(m:de(x, 3, 1) == m:de(x, 3, 1))   -- valid calls still work
fails(function() m:de(x, 1e8, 1) end, "model:de: site must be an integer in 0..15, got 100000000")
fails(function() m:de(x, -1, 1) end, "site must be an integer in 0..15")
fails(function() m:de(x, 2, 2) end, "model:de: state must be an integer in 0..1, got 2")
fails(function() m:de(ffi.new("uint8_t[9]"), 2, 1) end, "model:de: the configuration array holds 9 values, 16 needed")
fails(function() m:de_swap(x, 0, 16) end, "model:de_swap: site must be an integer in 0..15")
fails(function() m:energies(ffi.new("uint8_t[32]"), 3) end, "model:energies: the configuration array holds 32 values, 48 needed")

local w = tp.dump.open("counts.tpd", { fields = { { name = "a", type = "f64" }, { name = "x", type = "config", width = 16, states = 2 } } })
fails(function() w:append_batch(1e8, { a = ffi.new("double[4]"), x = ffi.new("uint8_t[64]") }) end,
  "dump:append_batch: field 'a' holds 4 values, 100000000 needed")
fails(function() w:append_batch(4, { a = ffi.new("double[4]"), x = ffi.new("uint8_t[63]") }) end,
  "field 'x' holds 63 values, 64 needed")
w:append_batch(4, { a = ffi.new("double[4]"), x = ffi.new("uint8_t[64]") })
w:close()

local cv = tp.cv.magnetization(lat)
local b = tp.bias.grid{ cv = cv, points = 17, sigma = 0.1, height = 1, beta = 1 }
fails(function() b:deposit(ffi.new("double[1]"), 1e8) end, "bias: the point array holds 1 values, 100000000 needed")
fails(function() b:deposit(ffi.new("double[2]"), 2, ffi.new("double[1]")) end, "bias:deposit: logw holds 1 values, 2 needed")
b:deposit(ffi.new("double[2]"), 2)
assert(b:info().nhills == 2)

local col = ffi.new("double[4]")
fails(function() tp.plumed.write("p.dat", { fields = { "a" }, columns = { a = col }, rows = 4, strides = { a = 1e8 } }) end,
  "plumed.write: column 'a' holds 4 values, 4 rows with stride 100000000 need")
fails(function() tp.plumed.write("p.dat", { fields = { "a" }, columns = { a = col }, rows = 5 }) end,
  "plumed.write: column 'a' holds 4 values, 5 rows with stride 1 need 5")
fails(function() tp.plumed.write("p.dat", { fields = { "a" }, columns = { a = col }, rows = 2, strides = { a = 0 } }) end,
  "stride of 'a' must be an integer >= 1")
tp.plumed.write("p.dat", { fields = { "a" }, columns = { a = col }, rows = 2, strides = { a = 2 } })
print("bad counts refused")
