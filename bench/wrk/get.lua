-- Plain GET of the URL given on wrk's command line, with the browser-like
-- headers an embedded widget sends (cross-origin XHR => Origin header).
-- Script args:  -- <origin>
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

function init(args)
   if args[1] then wrk.headers["Origin"] = args[1] end
   wrk.headers["Accept"] = "*/*"
end
