-- 'tempera report' on a small dump and on a run directory: the report
-- files exist, link their pictures, and every picture is a valid,
-- non-trivial PNG (signature + IHDR size) with its data file beside it.
local tp = require "tempera"
local ffi = require "ffi"
local report_cmd = require "tempera.cmd.report"

local dir = string.format("%s/analysis_report_%d_%d", os.getenv("TMPDIR") or "/tmp", os.time(), math.random(1e6))
assert(ffi.C.tp_mkdir_p(dir) == 0)
local n, L = 3000, 6
local w = tp.dump.open(dir .. "/run.tpd", { fields = { { name = "config", type = "config", states = 3, shape = { L, L } },
  { name = "energy", type = "f64" }, { name = "cv", type = "f64", width = 2 }, { name = "logw", type = "f64" } },
  meta = { beta = "1.0" } })
local r = tp.rng(9)
local cfg, e, cv, lw = ffi.new("uint8_t[?]", n * L * L), ffi.new("double[?]", n), ffi.new("double[?]", 2 * n), ffi.new("double[?]", n)
for i = 0, n - 1 do
  for k = 0, L * L - 1 do cfg[i * L * L + k] = r:below(3) end
  e[i] = r:normal() * 3 - 40
  cv[2 * i], cv[2 * i + 1] = r:normal() * 0.3, r:uniform()
  lw[i] = cv[2 * i]
end
w:append_batch(n, { config = cfg, energy = e, cv = cv, logw = lw })
w:close()

local function read(p) local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s end

local function check_report(out, min_pictures)
  local md = read(out .. "/report.md")
  local html = read(out .. "/report.html")
  assert(html:find("<html>") and html:find("</html>"))
  local pictures = 0
  for file in md:gmatch("\n!%[[^\n]-%]%(([^)%s]+)%)\n") do
    pictures = pictures + 1
    local path = out .. "/" .. file
    local wdt, hgt = tp.plot.png_info(path)
    assert(wdt, hgt)
    assert(wdt >= 300 and hgt >= 300, path)
    assert(#read(path) > 3000, path .. " is suspiciously small")
    assert(read(path:gsub("%.png$", ".dat")):find("%d"), "no data beside " .. path)
  end
  assert(pictures >= min_pictures, "only " .. pictures .. " pictures")
  local _, embedded = html:gsub("<img src=\"data:image/png;base64,", "")
  assert(embedded == pictures, "html embeds " .. embedded .. " of " .. pictures)
  return md
end

if tp.plot.terminal_kind() == "pngcairo" or tp.plot.terminal_kind() == "png" then
  assert(report_cmd.main(dir .. "/run.tpd", "-o", dir .. "/rep1") == 0)
  local md = check_report(dir .. "/rep1", 6)
  assert(md:find("NESS") and md:find("Two%-point correlation") and md:find("Potts"))
  assert(md:find("| energy |"))
  -- a run directory: its dump, and a picture the recipe drew itself
  local steps, loss, ness = {}, {}, {}
  for i = 1, 50 do steps[i], loss[i], ness[i] = i * 10, 3 / i + 0.1, 1 - 0.5 / i end
  assert(tp.plot.training{ file = dir .. "/loss.png", x = steps, title = "training",
    panels = { { name = "loss", y = loss, logy = true }, { name = "NESS", y = ness } } })
  local tw, th = tp.plot.png_info(dir .. "/loss.png")
  assert(tw == 800 and th == 440, tw .. "x" .. th)
  local f = io.open(dir .. "/run.txt", "w"); f:write("tempera 0.1.0\nseed 9 (--seed)\n"); f:close()
  assert(report_cmd.main(dir) == 0)
  md = check_report(dir .. "/report", 7)
  assert(md:find("loss.png") and md:find("seed"))
  -- the REPL's text plot
  local text = tp.analysis.hist{ range = { -1, 1 }, bins = 20 }:add(cv, nil, n, 2):plot{ print = false }
  assert(type(text) == "string" and text:find("%*") and select(2, text:gsub("\n", "")) >= 15, text)
else
  print("analysis_report: skipped picture checks (no gnuplot PNG terminal)")
end
-- usage and input errors
assert(report_cmd.main() == 2)
assert(report_cmd.main(dir .. "/nope.tpd") == 1)
os.execute("rm -rf '" .. dir .. "'")
