-- Comment posting load: every request creates a new comment with a unique
-- body (run id + wrk thread id + per-thread counter), round-robin over the
-- threads /t1 .. /tN. The same text, author and thread sequence is used for
-- both servers; only the request shape differs.
--
-- Script args:  -- <isso|parlour> <run id> <origin> [N threads, default 99]
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local next_tid = 1
function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
end

-- Plain ASCII without quotes or backslashes, so no JSON escaping is needed.
local sentences = {
   "Thanks for writing this up, it saved me an afternoon of digging.",
   "I tried the second approach on our staging box and it worked on the first go.",
   "One thing I would add is a note about what happens when the disk fills up.",
   "Has anyone measured how this behaves with a few thousand concurrent readers?",
   "The part about connection pooling finally made it click for me.",
   "We hit exactly this bug last winter and ended up pinning the old version.",
   "Small nit: the example in the third section is missing an import.",
   "I am not convinced the cache is worth the extra moving part for a small site.",
   "This is the clearest explanation of the trade-off I have read so far.",
   "Would love a follow-up post on backups and restoring from them.",
   "Our setup is similar, except we run everything behind a single reverse proxy.",
   "Bookmarked, and sent to the rest of the team.",
}
local ns = #sentences

function init(args)
   style = args[1] or "parlour"
   runid = args[2] or "0"
   origin = args[3]
   nthreads = tonumber(args[4] or "99")
   n = 0
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Accept"] = "*/*"
   if origin then wrk.headers["Origin"] = origin end
end

function request()
   n = n + 1
   local k = (tid - 1) * 7 + n
   local t = (k % nthreads) + 1
   local text = sentences[(k % ns) + 1] .. " " .. sentences[((k * 5 + 3) % ns) + 1] ..
      "\\n\\n" .. sentences[((k * 7 + 1) % ns) + 1] ..
      " (load " .. runid .. "-" .. tid .. "-" .. n .. ")"
   local author = "Load Writer " .. tid
   local email = "writer" .. tid .. "@example.com"
   if style == "isso" then
      return wrk.format("POST", "/new?uri=%2Ft" .. t, nil,
         '{"text":"' .. text .. '","author":"' .. author .. '","email":"' .. email .. '","parent":null}')
   else
      return wrk.format("POST", "/api/v1/comments", nil,
         '{"site":"bench","thread":"/t' .. t .. '","body":"' .. text .. '","author_name":"' .. author ..
         '","author_email":"' .. email .. '"}')
   end
end
