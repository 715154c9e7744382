-- Isso comment counts: POST /count with a JSON list of thread URIs, as
-- isso's count.js does (api.count(urls) -> POST endpoint + "/count").
-- Script args:  -- <origin> [number of threads, default 10]
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

function init(args)
   local n = tonumber(args[2] or "10")
   local uris = {}
   for i = 1, n do uris[#uris + 1] = '"/t' .. i .. '"' end
   wrk.method = "POST"
   wrk.body = "[" .. table.concat(uris, ",") .. "]"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Accept"] = "*/*"
   if args[1] then wrk.headers["Origin"] = args[1] end
end
