-- The documentation stands on its own: every man page that the README, the
-- man pages, the recipes and the stdlib's help texts point to
-- ("tempera-X(N)", "man tempera-X", ".Xr tempera-X N") exists in man/, the
-- methods page tempera-methods(7) among them, and no file points at a
-- document users do not have.
local src = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]+$")
assert(src, "cannot find the source tree from this file's path")
local function lines_of(cmd)
  local p = assert(io.popen(cmd))
  local t = {}
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end
local pages = {}
for _, f in ipairs(lines_of("ls '" .. src .. "/man'")) do
  local name, sec = f:match("^(tempera[%w%-]*)%.(%d)$")
  if name then pages[name] = pages[name] or {}; pages[name][sec] = true end
end
assert(pages["tempera-methods"] and pages["tempera-methods"]["7"], "man/tempera-methods.7 is missing")
local files = lines_of("cd '" .. src .. "' && ls README.md man/* recipes/*.lua && find stdlib -name '*.lua' | sort")
assert(#files > 40, "found only " .. #files .. " files to check")
local bad, refs = {}, 0
for _, f in ipairs(files) do
  local h = assert(io.open(src .. "/" .. f))
  local text = h:read("*a")
  h:close()
  local function check(name, sec, how)
    refs = refs + 1
    if not pages[name] or (sec and not pages[name][sec]) then
      bad[#bad + 1] = string.format("%s: %s points to %s%s, which man/ does not have", f, how, name, sec and "(" .. sec .. ")" or "")
    end
  end
  for name, sec in text:gmatch("(tempera%-%l+)%((%d)%)") do check(name, sec, "a reference") end
  for name in text:gmatch("man (tempera%-%l+)") do check(name, nil, "'man'") end
  for name, sec in text:gmatch("%.Xr (tempera%-%l+) (%d)") do check(name, sec, ".Xr") end
  if text:find("science%.md") or text:find("shared/docs") then
    bad[#bad + 1] = f .. ": cites a document users do not have"
  end
end
assert(#bad == 0, table.concat(bad, "\n"))
assert(refs > 80, "only " .. refs .. " references found: the scan is broken")
print(string.format("doc_refs: %d files, %d references, all to pages in man/", #files, refs))
