-- tempera.report.run: the report on a run directory (rep:run_dir): run.txt,
-- the files, every dump, bias and HILLS file, training logs and the
-- pictures the recipe drew.
local F = require "tempera.ffi"
local util = require "tempera.util"
local A = require "tempera.analysis"
local plot = require "tempera.plot"
local C, ffi = F.C, F.ffi
local doc = require "tempera.report.document"
local Report, fmt, safe_name = doc.Report, doc.fmt, doc.safe_name
require "tempera.report.dump"

-- ---- analysing a run directory ---------------------------------------------------

local function list_dir(dir)
  local p = io.popen("ls -1 " .. util.shell_quote(dir) .. " 2>/dev/null")
  local t = {}
  if p then for l in p:lines() do t[#t + 1] = l end; p:close() end
  table.sort(t)
  return t
end

local function first_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local l = f:read("*l")
  f:close()
  return l
end

-- rep:training_log(path [, name]): the curves of a training log (loss,
-- NESS of the batch, log Z-hat, ESS of the likelihood weights and CV
-- coverage against the optimiser step) and its last line.
local LOG_PANELS = {
  { "loss", "WDCE loss" }, { "ness", "batch NESS" }, { "log_z", "log Z-hat" }, { "ness_lik", "NESS (likelihood)" },
  { "coverage", "CV coverage" },
}
function Report:training_log(path, name)
  name = name or path:match("([^/]+)$") or path
  local f = io.open(path, "r")
  if not f then return self end
  local head, cols, rows = f:read("*l"), nil, {}
  for l in f:lines() do
    if l:sub(1, 1) == "#" or l:match("^step ") then
      -- the column line: "step cycle ..." (older logs: "# step cycle ...")
      local names = l:match("^# (step .*)$") or l:match("^(step .*)$")
      if names then cols = {}; for w in names:gmatch("%S+") do cols[#cols + 1] = w end end
    else
      local r = {}
      for w in l:gmatch("%S+") do r[#r + 1] = tonumber(w) end
      if cols and #r == #cols then rows[#rows + 1] = r end
    end
  end
  f:close()
  self:section("Training log `" .. name .. "`")
  self:text((head or ""):gsub("^# ", "") .. string.format(" -- %d steps logged.", #rows))
  if not cols or #rows == 0 then self:text("No steps in this log."); return self end
  local at = {}
  for i, c in ipairs(cols) do at[c] = i end
  local x, panels = {}, {}
  for k, r in ipairs(rows) do x[k] = r[at.step] end
  for _, pn in ipairs(LOG_PANELS) do
    local i = at[pn[1]]
    if i then
      local y, finite = {}, false
      for k, r in ipairs(rows) do y[k] = r[i]; finite = finite or r[i] == r[i] end
      if finite then panels[#panels + 1] = { name = pn[2], y = y } end
    end
  end
  local last = rows[#rows]
  local lrows = {}
  for i, c in ipairs(cols) do lrows[i] = { c, last[i] } end
  self:table{ title = "Last step", header = { "column", "value" }, rows = lrows }
  if #panels > 0 then
    local pic, note = plot.training{ file = self:path(safe_name(name) .. "_training.png"), x = x, panels = panels,
      title = "training curves: " .. name, xlabel = "optimiser step" }
    self:figure(pic, "Training curves of " .. name .. " against the optimiser step (dimensionless: the loss "
      .. "and log Z-hat are per sample, NESS and coverage fractions)", note)
  end
  return self
end

-- rep:run_dir(dir): run.txt metadata, every dump, every bias file, HILLS
-- files, training logs and the pictures the recipe drew itself.
function Report:run_dir(dir)
  local files = list_dir(dir)
  local f = io.open(dir .. "/run.txt", "r")
  if f then
    local rows = {}
    for l in f:lines() do
      local k, v = l:match("^(%S+)%s+(.*)$")
      if k then rows[#rows + 1] = { k, v } end
    end
    f:close()
    self:section("Run")
    self:table{ title = "run.txt", header = { "key", "value" }, rows = rows }
  end
  local frows = {}
  for _, name in ipairs(files) do
    local p = dir .. "/" .. name
    local fh = io.open(p, "rb")
    local size = fh and fh:seek("end") or nil
    if fh then fh:close() end
    frows[#frows + 1] = { name, size or "(dir)" }
  end
  self:table{ title = "Files", header = { "name", "bytes" }, rows = frows }
  for _, name in ipairs(files) do
    local p = dir .. "/" .. name
    if name:match("%.tpd$") then
      self:dump(p)
    elseif (first_line(p) or ""):match("^# tempera training log") then
      self:training_log(p, name)
    elseif (first_line(p) or ""):match("^tempera%-bias ") then
      local b = C.tp_bias_load(p)
      if b ~= nil then
        b = ffi.gc(b, C.tp_bias_free)
        local info = ffi.new("tp_bias_info")
        util.check(C.tp_bias_get_info(b, info))
        self:section("Bias `" .. name .. "`")
        self:meta({ { "dimensions", info.dim }, { "grid points", tonumber(info.size) }, { "hills", tonumber(info.nhills) },
          { "bias factor", info.bias_factor }, { "kT", info.kT }, { "height per cycle", info.height } })
        if info.dim == 1 then
          local Fv = A.pmf_from_bias(b)
          local x = {}
          for i = 1, #Fv do x[i] = info.lo[0] + (i - 1) * info.spacing[0] end
          local pic, note = plot.curves{ file = self:path(safe_name(name) .. "_pmf.png"), title = "PMF from the bias",
            xlabel = "CV", ylabel = "F", series = { { x = x, y = Fv, label = "-gamma/(gamma-1) V" } } }
          self:figure(pic, "PMF from the bias grid " .. name, note)
        end
      end
    elseif (first_line(p) or ""):match("^#! FIELDS") and name:upper():find("HILLS") then
      local h = require("tempera.plumed").read_hills(p)
      if h and h.dim == 1 and h.n > 0 then
        local mm = ffi.new("double[2]", math.huge, -math.huge)
        util.check(C.tp_rw_minmax(mm, h.centers[1], 1, h.n))
        local lo, hi = mm[0] - 3 * h.sigma[1][0], mm[1] + 3 * h.sigma[1][0]
        local V, size = h:sum{ lo = { lo }, hi = { hi }, points = { 201 } }
        local Fv = A.pmf_from_bias(V, h.bias_factor, size)
        local x = {}
        for i = 1, size do x[i] = lo + (i - 1) * (hi - lo) / (size - 1) end
        self:section("HILLS `" .. name .. "`")
        self:meta({ { "hills", h.n }, { "CV", h.cv[1] }, { "bias factor", h.bias_factor } })
        local pic, note = plot.curves{ file = self:path(safe_name(name) .. "_pmf.png"), title = "PMF from summed hills",
          xlabel = h.cv[1], ylabel = "F", series = { { x = x, y = Fv, label = "summed HILLS" } } }
        self:figure(pic, "PMF from the summed hills of " .. name, note)
      end
    end
  end
  local pics = {}
  for _, name in ipairs(files) do
    if (name:match("%.png$") or name:match("%.svg$")) then pics[#pics + 1] = name end
  end
  if #pics > 0 then
    self:section("Pictures drawn by the recipe")
    for _, name in ipairs(pics) do
      local src, dst = dir .. "/" .. name, self:path(name)
      if src ~= dst then
        -- the picture and its data file, when there is one
        for _, ext in ipairs { "", ".dat" } do
          local from = ext == "" and src or (src:gsub("%.[%w]+$", "") .. ext)
          local bytes = util.read_file(from)
          if bytes then
            local b = util.open_write(ext == "" and dst or (dst:gsub("%.[%w]+$", "") .. ext))
            b:write(bytes)
            b:close()
          end
        end
      end
      self:figure(dst, name)
    end
  end
  return self
end

return {}
