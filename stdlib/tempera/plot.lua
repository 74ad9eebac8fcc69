-- tempera.plot: pictures through gnuplot (PNG via pngcairo, else png, else
-- SVG), each written with the plotted data as a text file next to it
-- (NAME.dat) and the gnuplot script that drew it (NAME.gp), so a person can
-- open, re-plot or re-analyse.  Without gnuplot the data files are still
-- written and the functions return nil, note.  Small arrays only (bins,
-- grid points, training curves): per-sample work belongs in tp.analysis.
--
--   tp.plot.curves{ file = "pmf.png", title =, xlabel =, ylabel =,
--     series = { { x =, y =, err =, label =, style = "lines"|"points"|"band"|"steps" } } }
--   tp.plot.hist{ file =, x = centres, y = weights, label = }    (boxes)
--   tp.plot.heatmap{ file =, x = centres, y = centres, z = rows z[i][j] }
--   tp.plot.lattice{ file =, config = FFI uint8 array or list, L =, q = }
--   tp.plot.training{ file =, x = steps, panels = { { name = "loss", y = }, ... } }
--   tp.plot.terminal{ x =, y = }  -> a text plot (REPL), also printed
--   tp.plot.png_info(path) -> width, height (nil, msg if not a PNG)
local util = require "tempera.util"
local C = require("tempera.ffi").C

local M = {}

local gp_path
local function gnuplot()
  if gp_path == nil then
    local p = io.popen("command -v gnuplot 2>/dev/null")
    local out = p and p:read("*l") or nil
    if p then p:close() end
    gp_path = (out and out ~= "") and out or false
  end
  return gp_path or nil
end
M.gnuplot = gnuplot

local term_cache
-- "pngcairo", "png" or "svg" (best available), nil without gnuplot
function M.terminal_kind()
  if term_cache ~= nil then return term_cache or nil end
  if not gnuplot() then term_cache = false; return nil end
  local p = io.popen("gnuplot -e 'set terminal' 2>&1")
  local t = p and p:read("*a") or ""
  if p then p:close() end
  if t:find("%f[%w]pngcairo%f[%W]") then term_cache = "pngcairo"
  elseif t:find("%f[%w]png%f[%W]") then term_cache = "png"
  elseif t:find("%f[%w]svg%f[%W]") then term_cache = "svg"
  else term_cache = false end
  return term_cache or nil
end

local function q(s) return "'" .. tostring(s):gsub("'", "''") .. "'" end
local sh = util.shell_quote

local function num(v)
  if v ~= v then return "NaN" end
  if v == math.huge or v == -math.huge then return "NaN" end   -- gnuplot leaves a gap
  return string.format("%.10g", v)
end

local function stem(file) return (file:gsub("%.[%w]+$", "")) end

-- Run a gnuplot script; returns true or nil, message.
local function run(script_path)
  local log = script_path .. ".log"
  local rc = os.execute("gnuplot " .. sh(script_path) .. " > " .. sh(log) .. " 2>&1")
  local f = io.open(log, "r")
  local msg = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(log)
  if rc == 0 or rc == true then return true end
  return nil, "gnuplot failed: " .. msg
end

local function header(o, file)
  local kind = M.terminal_kind()
  local w, h = o.width or 800, o.height or 560
  local t
  if kind == "pngcairo" then t = string.format("set terminal pngcairo size %d,%d enhanced font 'sans,10'", w, h)
  elseif kind == "png" then t = string.format("set terminal png size %d,%d", w, h)
  else t = string.format("set terminal svg size %d,%d enhanced", w, h) end
  local s = { t, "set output " .. q(file), "set encoding utf8" }
  -- titles are literal text (a file name's "_" is not a subscript)
  if o.title then s[#s + 1] = "set title " .. q(o.title) .. " noenhanced" end
  if o.xlabel then s[#s + 1] = "set xlabel " .. q(o.xlabel) end
  if o.ylabel then s[#s + 1] = "set ylabel " .. q(o.ylabel) end
  if o.logy then s[#s + 1] = "set logscale y" end
  if o.xrange then s[#s + 1] = string.format("set xrange [%s:%s]", num(o.xrange[1]), num(o.xrange[2])) end
  if o.yrange then s[#s + 1] = string.format("set yrange [%s:%s]", num(o.yrange[1]), num(o.yrange[2])) end
  s[#s + 1] = "set grid lc rgb '#dddddd'"
  s[#s + 1] = "set key top right"
  return s
end

local tmp_count = 0

-- Writes data, script and (if possible) the picture.  Returns file or nil, note.
local function finish(file, script, data_path)
  local gp = stem(file) .. ".gp"
  local f = util.open_write(gp)
  if not f then util.raise("plot: cannot write %s", gp) end
  f:write(table.concat(script, "\n"), "\n")
  f:close()
  if not M.terminal_kind() then
    return nil, "gnuplot not found: data in " .. data_path .. ", script in " .. gp .. " (install gnuplot: make deps)"
  end
  -- an MPI rank other than 0 writes nothing (its data and script went
  -- nowhere): rank 0 draws the same picture
  if C.tp_io_muted() ~= 0 then return file end
  -- gnuplot draws into a temporary file that is checked whole (a PNG ends
  -- with its IEND chunk, an SVG with </svg>) and renamed over the picture:
  -- a full disk or a killed gnuplot never leaves a torn picture behind
  tmp_count = tmp_count + 1   -- (not math.random: the recipe's random stream stays its own)
  local tmp = string.format("%s.tmp.%d.%d%s", stem(file), tmp_count, math.floor(C.tp_clock() * 1e6 % 1e9),
    file:match("%.[%w]+$") or "")
  local set = "set output " .. q(file)
  local lines = {}
  for i, l in ipairs(script) do lines[i] = l == set and "set output " .. q(tmp) or l end
  local rs = gp .. ".run"
  local g = util.open_write(rs)
  g:write(table.concat(lines, "\n"), "\n")
  g:close()
  local ok, err = run(rs)
  os.remove(rs)
  if ok then
    local pf = io.open(tmp, "rb")
    local size = pf and pf:seek("end") or 0
    local tail = ""
    if pf and size > 0 then pf:seek("set", math.max(0, size - 16)); tail = pf:read(16) or "" end
    if pf then pf:close() end
    local bad
    if not (tail:find("IEND", 1, true) or tail:find("</svg>", 1, true)) then
      bad = string.format("%s: gnuplot could not write the whole picture (%d bytes: is the disk full?); "
        .. "the previous picture, if any, is unchanged", file, size)
    elseif not os.rename(tmp, file) then
      bad = "cannot rename the picture to " .. file
    end
    -- a picture lost to the file system is an error, not a note (gnuplot
    -- missing or failing on its script stays a note)
    if bad then os.remove(tmp); util.raise("plot: %s", bad) end
  end
  os.remove(tmp)
  if not ok then return nil, err end
  return file
end

-- Picture file name with the right extension for the terminal available.
local function picture(file)
  if M.terminal_kind() == "svg" then return stem(file) .. ".svg" end
  return file
end

local function len(t) return type(t) == "table" and #t or 0 end

-- tp.plot.curves{ file, series = { { x, y, err, label, style } }, title, xlabel, ylabel, ... }
-- -> picture path (or nil, note); data in NAME.dat, one block per series.
function M.curves(o)
  util.check_arg(type(o) == "table" and type(o.file) == "string" and type(o.series) == "table",
    "plot.curves{ file = 'x.png', series = { { x = {...}, y = {...} } } }")
  local file = picture(o.file)
  local data = stem(file) .. ".dat"
  local f = util.open_write(data)
  if not f then util.raise("plot: cannot write %s", data) end
  f:write("# ", o.title or "curves", "\n")
  local plots = {}
  for i, s in ipairs(o.series) do
    util.check_arg(len(s.x) == len(s.y) and len(s.x) > 0, "plot.curves: series %d needs x and y of equal length", i)
    if s.err then util.check_arg(len(s.err) == len(s.x), "plot.curves: series %d: err length differs", i) end
    f:write(string.format("# series %d: %s\n# x y%s\n", i, s.label or ("series " .. i), s.err and " err" or ""))
    for k = 1, #s.x do
      -- rows with an undefined y (empty PMF bins) are left out, so lines join across them
      local y = s.y[k]
      if y == y and y ~= math.huge and y ~= -math.huge then
        local e = s.err and s.err[k]
        if e and e ~= e then e = 0 end
        f:write(num(s.x[k]), " ", num(y), e and (" " .. num(e)) or "", "\n")
      end
    end
    f:write("\n\n")
    local title = "title " .. q(s.label or "")
    local idx = string.format("%s index %d", q(data), i - 1)
    local style = s.style or (s.err and "band" or "lines")
    if style == "band" and s.err then
      plots[#plots + 1] = string.format("%s using 1:($2-$3):($2+$3) with filledcurves fs transparent solid 0.25 lc %d notitle", idx, i)
      plots[#plots + 1] = string.format("%s using 1:2 with lines lw 2 lc %d %s", idx, i, title)
    elseif style == "points" then
      if s.err then
        plots[#plots + 1] = string.format("%s using 1:2:3 with yerrorbars pt 7 ps 0.6 lc %d %s", idx, i, title)
      else
        plots[#plots + 1] = string.format("%s using 1:2 with points pt 7 ps 0.6 lc %d %s", idx, i, title)
      end
    elseif style == "steps" then
      plots[#plots + 1] = string.format("%s using 1:2 with histeps lw 2 lc %d %s", idx, i, title)
    else
      plots[#plots + 1] = string.format("%s using 1:2 with lines lw 2 lc %d %s", idx, i, title)
    end
  end
  f:close()
  local script = header(o, file)
  script[#script + 1] = "plot " .. table.concat(plots, ", \\\n     ")
  return finish(file, script, data)
end

-- tp.plot.training{ file, x = steps, panels = { { name = "loss", y = {...}, logy = },
--   { name = "NESS", y = {...} }, ... }, xlabel = "step" }: training curves
-- (loss, NESS, bias height, coverage, ...) stacked in one picture, sharing
-- the x axis; NAME.dat has one column per panel.
function M.training(o)
  util.check_arg(type(o) == "table" and type(o.file) == "string" and type(o.x) == "table" and type(o.panels) == "table"
    and #o.panels >= 1, "plot.training{ file =, x = steps, panels = { { name =, y = {...} }, ... } }")
  for i, p in ipairs(o.panels) do
    util.check_arg(type(p.y) == "table" and #p.y == #o.x, "plot.training: panel %d needs y with one value per x", i)
  end
  local file = picture(o.file)
  local data = stem(file) .. ".dat"
  local f = util.open_write(data)
  if not f then util.raise("plot: cannot write %s", data) end
  local names = {}
  for i, p in ipairs(o.panels) do names[i] = (p.name or ("y" .. i)):gsub("%s", "_") end
  f:write("# ", o.title or "training curves", "\n# ", o.xlabel or "step", " ", table.concat(names, " "), "\n")
  for k = 1, #o.x do
    local row = { num(o.x[k]) }
    for i, p in ipairs(o.panels) do row[i + 1] = num(p.y[k]) end
    f:write(table.concat(row, " "), "\n")
  end
  f:close()
  local np = #o.panels
  local script = header({ title = nil, width = o.width or 800, height = o.height or math.max(300, 220 * np) }, file)
  script[#script + 1] = string.format("set multiplot layout %d,1 title %s noenhanced", np, q(o.title or "training"))
  for i, p in ipairs(o.panels) do
    script[#script + 1] = i == np and ("set xlabel " .. q(o.xlabel or "step")) or "unset xlabel"
    script[#script + 1] = "set ylabel " .. q(p.name or "")
    script[#script + 1] = p.logy and "set logscale y" or "unset logscale y"
    script[#script + 1] = string.format("plot %s using 1:%d with lines lw 2 lc %d notitle", q(data), i + 1, i)
  end
  script[#script + 1] = "unset multiplot"
  return finish(file, script, data)
end

-- tp.plot.hist{ file, x = bin centres, y = weights (or { y1, y2 } lists with labels) }
function M.hist(o)
  util.check_arg(type(o) == "table" and type(o.file) == "string" and type(o.x) == "table" and type(o.y) == "table",
    "plot.hist{ file =, x = centres, y = weights }")
  local ys = type(o.y[1]) == "table" and o.y or { o.y }
  local labels = o.labels or { o.label or "" }
  local series = {}
  for i, y in ipairs(ys) do series[i] = { x = o.x, y = y, label = labels[i], style = "steps" } end
  local file = picture(o.file)
  if #ys == 1 then
    -- one histogram: filled boxes
    local data = stem(file) .. ".dat"
    local f = util.open_write(data)
    if not f then util.raise("plot: cannot write %s", data) end
    f:write("# ", o.title or "histogram", "\n# x weight\n")
    for k = 1, #o.x do f:write(num(o.x[k]), " ", num(ys[1][k]), "\n") end
    f:close()
    local script = header(o, file)
    script[#script + 1] = "set style fill solid 0.5 border -1"
    script[#script + 1] = "set boxwidth 0.9 relative"
    script[#script + 1] = string.format("plot %s using 1:2 with boxes lc rgb '#4477aa' title %s", q(data), q(labels[1] or ""))
    return finish(file, script, data)
  end
  local c = {}
  for k, v in pairs(o) do c[k] = v end
  c.series, c.file = series, file
  return M.curves(c)
end

-- tp.plot.heatmap{ file, x = centres (nx), y = centres (ny), z = rows z[i][j] }
function M.heatmap(o)
  util.check_arg(type(o) == "table" and type(o.file) == "string" and type(o.z) == "table" and type(o.x) == "table"
    and type(o.y) == "table" and #o.z == #o.x, "plot.heatmap{ file =, x =, y =, z = rows (one per x) }")
  local file = picture(o.file)
  local data = stem(file) .. ".dat"
  local f = util.open_write(data)
  if not f then util.raise("plot: cannot write %s", data) end
  f:write("# ", o.title or "heat map", "\n# x y z\n")
  for i = 1, #o.x do
    for j = 1, #o.y do f:write(num(o.x[i]), " ", num(o.y[j]), " ", num(o.z[i][j]), "\n") end
    f:write("\n")
  end
  f:close()
  local script = header(o, file)
  script[#script + 1] = "set view map"
  script[#script + 1] = "set palette rgbformulae 33,13,10"
  script[#script + 1] = o.cblabel and ("set cblabel " .. q(o.cblabel)) or "unset cblabel"
  script[#script + 1] = string.format("plot %s using 1:2:3 with image notitle", q(data))
  return finish(file, script, data)
end

-- tp.plot.lattice{ file, config = tokens (FFI array or list, row-major), L =, q = }
function M.lattice(o)
  util.check_arg(type(o) == "table" and type(o.file) == "string" and o.config and type(o.L) == "number",
    "plot.lattice{ file =, config =, L = }")
  local L = o.L
  local file = picture(o.file)
  local data = stem(file) .. ".dat"
  local f = util.open_write(data)
  if not f then util.raise("plot: cannot write %s", data) end
  f:write("# lattice snapshot ", L, "x", L, ": x y token\n")
  local base = type(o.config) == "table" and 1 or 0
  for y = 0, L - 1 do
    for x = 0, L - 1 do f:write(x, " ", y, " ", tonumber(o.config[base + y * L + x]), "\n") end
    f:write("\n")
  end
  f:close()
  local qn = o.q or 2
  local script = header({ title = o.title or string.format("configuration (%dx%d)", L, L),
                          width = o.width or 560, height = o.height or 520 }, file)
  script[#script + 1] = "set size ratio -1"
  script[#script + 1] = string.format("set xrange [-0.5:%g]; set yrange [-0.5:%g] reverse", L - 0.5, L - 0.5)
  script[#script + 1] = string.format("set cbrange [-0.5:%g]; set cbtics 1", qn - 0.5)
  script[#script + 1] = string.format("set palette maxcolors %d", qn)
  script[#script + 1] = qn == 2 and "set palette defined (0 '#1f3b73', 1 '#f2c14e')" or "set palette rgbformulae 7,5,15"
  script[#script + 1] = "unset grid"
  script[#script + 1] = string.format("plot %s using 1:2:3 with image notitle", q(data))
  return finish(file, script, data)
end

-- tp.plot.terminal{ x =, y =, title =, width = 72, height = 20 } -> text
-- (also printed unless print = false).  Needs gnuplot (dumb terminal).
function M.terminal(o)
  util.check_arg(type(o) == "table" and type(o.y) == "table", "plot.terminal{ x =, y = }")
  local x = o.x
  if not x then x = {}; for i = 1, #o.y do x[i] = i end end
  if not gnuplot() then
    local msg = "plot.terminal: gnuplot not found (make deps)"
    if o.print ~= false then print(msg) end
    return nil, msg
  end
  if C.tp_io_muted() ~= 0 then return "" end   -- an MPI rank other than 0: rank 0 draws
  local tmp = os.tmpname()
  local f = util.open_write(tmp)
  for k = 1, #x do f:write(num(x[k]), " ", num(o.y[k]), "\n") end
  f:close()
  local script = string.format("set terminal dumb size %d,%d; %s plot %s using 1:2 with %s notitle",
    o.width or 72, o.height or 20, o.title and ("set title " .. q(o.title) .. ";") or "", q(tmp), o.style or "lines")
  local p = io.popen("gnuplot -e " .. sh(script) .. " 2>&1")
  local text = p:read("*a")
  p:close()
  os.remove(tmp)
  if o.print ~= false then
    io.stdout:write(text)
    M._printed = text   -- the REPL then does not show the returned text again
  end
  return text
end

-- tp.plot.png_info(path) -> width, height of a PNG (nil, msg if not one)
function M.png_info(path)
  local f = io.open(path, "rb")
  if not f then return nil, "cannot open " .. tostring(path) end
  local b = f:read(24)
  f:close()
  if not b or #b < 24 or b:sub(1, 8) ~= "\137PNG\r\n\26\n" or b:sub(13, 16) ~= "IHDR" then
    return nil, path .. ": not a PNG file"
  end
  local function u32(s, i)
    local a, c, d, e = s:byte(i, i + 3)
    return ((a * 256 + c) * 256 + d) * 256 + e
  end
  return u32(b, 17), u32(b, 21)
end

util.doc(M, [[
tp.plot -- pictures via gnuplot, with the plotted data as NAME.dat and the script as NAME.gp
  tp.plot.curves{ file =, series = { { x =, y =, err =, label =, style = 'lines'|'band'|'points'|'steps' } },
                  title =, xlabel =, ylabel =, xrange =, yrange =, logy = }
  tp.plot.hist{ file =, x = centres, y = weights | { y1, y2 }, labels = }
  tp.plot.heatmap{ file =, x =, y =, z = rows }
  tp.plot.lattice{ file =, config =, L =, q = }
  tp.plot.training{ file =, x = steps, panels = { { name = 'loss', y =, logy = }, { name = 'NESS', y = } } }
  tp.plot.terminal{ x =, y = }     quick text plot (REPL)
  Each returns the picture's path, or nil and a note (no gnuplot: data still written).]])

return M
