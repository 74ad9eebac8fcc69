-- tempera.mpi: several processes of one recipe (mpirun -np N tempera run R),
-- man tempera-mpi(7).  Without mpirun, or in a build without Open MPI,
-- this is one process: rank 0 of size 1, and every collective returns its
-- input.  tp.mc.metad and tp.train use it themselves; recipes that write
-- their own loops use these:
--
--   tp.mpi.rank(), tp.mpi.size(), tp.mpi.barrier()
--   tp.mpi.allreduce(x [, "sum" | "max" | "min"])   x a number, a list of
--       numbers, or a double array (+ n): sums added in rank order, the same
--       bits on every rank
--   tp.mpi.gather(x [, n])    every rank's x, in rank order, on every rank
--   tp.mpi.bcast(x [, root])  root's number, string or list of numbers
--   tp.mpi.split(n)           first (0-based), count: this rank's rows of n
--
-- Sums never use MPI's reduction tree: values are gathered and added in rank
-- order, so results do not depend on the MPI library or the network.
local F = require "tempera.ffi"
local util = require "tempera.util"
local C, ffi = F.C, F.ffi

local M = {}

function M.rank() return tonumber(C.tp_mpi_rank()) end
function M.size() return tonumber(C.tp_mpi_size()) end
-- true in the process that writes files (rank 0)
function M.is_root() return C.tp_mpi_rank() == 0 end
function M.built() return C.tp_mpi_built() ~= 0 end
function M.barrier() util.check(C.tp_mpi_barrier()) end
-- seconds spent in collectives and bytes they received, since the start
function M.comm_seconds() return tonumber(C.tp_mpi_comm_seconds()) end
function M.comm_bytes() return tonumber(C.tp_mpi_comm_bytes()) end

-- first, count = tp.mpi.split(n [, rank, size]): the contiguous block of
-- rows [first, first + count) of n that a rank handles
function M.split(n, rank, size)
  util.check_arg(type(n) == "number" and n >= 0 and n == math.floor(n), "tp.mpi.split: n must be a count, got %s",
    tostring(n))
  local f, c = ffi.new("int64_t[1]"), ffi.new("int64_t[1]")
  C.tp_mpi_split(n, rank or C.tp_mpi_rank(), size or C.tp_mpi_size(), f, c)
  return tonumber(f[0]), tonumber(c[0])
end

-- every rank's count of rows in a split of n (an int64 array, for allgatherv)
function M.counts(n, width)
  local size = M.size()
  local a = ffi.new("int64_t[?]", size)
  for r = 0, size - 1 do
    local _, c = M.split(n, r, size)
    a[r] = c * (width or 1)
  end
  return a
end

local OPS = { max = 1, min = 2 }

-- tp.mpi.allreduce(x [, op]) -> the reduction (x a number, a list, or a
-- double array with n; an array is reduced in place and returned)
function M.allreduce(x, op, n)
  if type(op) == "number" then op, n = nil, op end
  op = op or "sum"
  util.check_arg(op == "sum" or OPS[op], "tp.mpi.allreduce: op must be 'sum', 'max' or 'min', got %s", tostring(op))
  local buf, len, kind
  if type(x) == "number" then
    buf, len, kind = ffi.new("double[1]", x), 1, "number"
  elseif type(x) == "table" then
    len = #x
    buf, kind = ffi.new("double[?]", math.max(len, 1)), "table"
    for i = 1, len do
      util.check_arg(type(x[i]) == "number", "tp.mpi.allreduce: entry %d is a %s, not a number", i, type(x[i]))
      buf[i - 1] = x[i]
    end
  elseif type(x) == "cdata" then
    len = n or util.array_len(x, 8)
    util.check_arg(type(len) == "number" and len >= 0, "tp.mpi.allreduce: give the array's length n")
    util.check_count("tp.mpi.allreduce", "x", x, len, 8)
    buf, kind = ffi.cast("double *", x), "array"
  else
    util.raise("tp.mpi.allreduce: expects a number, a list of numbers or a double array, got %s", type(x))
  end
  if op == "sum" then util.check(C.tp_mpi_sum_f64(buf, len)) else util.check(C.tp_mpi_extreme_f64(buf, len, OPS[op])) end
  if kind == "number" then return buf[0] end
  if kind == "array" then return x end
  local t = {}
  for i = 1, len do t[i] = buf[i - 1] end
  return t
end

-- tp.mpi.gather(x [, n]) -> every rank's x in rank order: a list of numbers
-- for numbers, a list of lists for lists (the same length on every rank), a
-- double array of size * n for a double array of n
function M.gather(x, n)
  local size = M.size()
  if type(x) == "number" then
    local out = ffi.new("double[?]", size)
    util.check(C.tp_mpi_allgather_f64(ffi.new("double[1]", x), 1, out))
    local t = {}
    for r = 1, size do t[r] = out[r - 1] end
    return t
  elseif type(x) == "table" then
    local len = #x
    local mine = ffi.new("double[?]", math.max(len, 1))
    for i = 1, len do mine[i - 1] = x[i] end
    local lens = M.gather(len)
    for r = 1, size do
      util.check_arg(lens[r] == len, "tp.mpi.gather: rank %d has %d values, this rank (%d) %d", r - 1, lens[r], M.rank(), len)
    end
    local out = ffi.new("double[?]", math.max(size * len, 1))
    util.check(C.tp_mpi_allgather_f64(mine, len, out))
    local t = {}
    for r = 1, size do
      local row = {}
      for i = 1, len do row[i] = out[(r - 1) * len + i - 1] end
      t[r] = row
    end
    return t
  elseif type(x) == "cdata" then
    util.check_arg(type(n) == "number" and n >= 0, "tp.mpi.gather: give the array's length n")
    util.check_count("tp.mpi.gather", "x", x, n, 8)
    local out = ffi.new("double[?]", math.max(size * n, 1))
    util.check(C.tp_mpi_allgather_f64(ffi.cast("const double *", x), n, out))
    return out
  end
  util.raise("tp.mpi.gather: expects a number, a list or a double array, got %s", type(x))
end

-- tp.mpi.bcast(x [, root = 0]) -> root's x (a number, string or list of numbers)
function M.bcast(x, root)
  root = root or 0
  util.check_arg(type(root) == "number" and root >= 0 and root < M.size(), "tp.mpi.bcast: root %s is not a rank",
    tostring(root))
  if M.size() == 1 then return x end
  local kind = ffi.new("double[2]")
  if M.rank() == root then
    kind[0] = type(x) == "number" and 1 or type(x) == "string" and 2 or type(x) == "table" and 3 or 0
    kind[1] = type(x) == "string" and #x or type(x) == "table" and #x or 1
    util.check_arg(kind[0] ~= 0, "tp.mpi.bcast: expects a number, a string or a list of numbers, got %s", type(x))
  end
  util.check(C.tp_mpi_bcast(kind, 16, root))
  local k, len = kind[0], tonumber(kind[1])
  if k == 2 then
    local b = ffi.new("char[?]", math.max(len, 1))
    if M.rank() == root then ffi.copy(b, x, len) end
    util.check(C.tp_mpi_bcast(b, len, root))
    return ffi.string(b, len)
  end
  local b = ffi.new("double[?]", math.max(len, 1))
  if M.rank() == root then
    if k == 1 then b[0] = x else for i = 1, len do b[i - 1] = x[i] end end
  end
  util.check(C.tp_mpi_bcast(b, len * 8, root))
  if k == 1 then return b[0] end
  local t = {}
  for i = 1, len do t[i] = b[i - 1] end
  return t
end

-- Internal (tp.mc.metad, tp.train): the rows [first, first + count) of a
-- split of n, each width values of ctype, gathered from every rank into
-- one array of n * width in rank order (= row order)
function M.gather_rows(local_arr, n, width, ctype)
  width = width or 1
  ctype = ctype or "double"
  local out = ffi.new(ctype .. "[?]", math.max(n * width, 1))
  local counts = M.counts(n, width)
  if ctype == "double" then
    util.check(C.tp_mpi_allgatherv_f64(local_arr, counts, out))
  else
    util.check_arg(ffi.sizeof(ctype) == 1, "tp.mpi.gather_rows: double or byte rows, got %s", ctype)
    util.check(C.tp_mpi_allgatherv_u8(ffi.cast("const uint8_t *", local_arr), counts, ffi.cast("uint8_t *", out)))
  end
  return out
end

util.doc(M, [[
tp.mpi -- several processes of one recipe: mpirun -np N tempera run R (man tempera-mpi)
  tp.mpi.rank() tp.mpi.size() tp.mpi.is_root() tp.mpi.barrier()
  tp.mpi.allreduce(x [, "sum"|"max"|"min"])   number, list or double array (+ n)
  tp.mpi.gather(x [, n])   every rank's x in rank order     tp.mpi.bcast(x [, root])
  tp.mpi.split(n) -> first, count (this rank's rows)        tp.mpi.comm_seconds()
Sums are added in rank order: the same bits on every rank.  Without mpirun:
rank 0 of size 1.  tp.mc.metad shares one bias across ranks (chains split);
tp.train splits each batch (data-parallel); rank 0 alone writes files.]])

return M
