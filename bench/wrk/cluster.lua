-- bench/cluster's load: a GET of the URL given (read, counts) or new comments with
-- distinct bodies (post), counting every response that is not 2xx (wrk's own error
-- count only sees statuses over 399).
--
-- Script args:  -- get|post <origin> <run id>
local threads = {}
local sentences = {
   "Thanks for writing this up, it saved me an afternoon of digging.",
   "I tried the second approach on our staging box and it worked on the first go.",
   "One thing I would add is a note about what happens when the disk fills up.",
   "Has anyone measured how this behaves with a few thousand concurrent readers?",
   "The part about connection pooling finally made it click for me.",
   "Would love a follow-up post on backups and restoring from them.",
}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function init(args)
   mode = args[1] or "get"
   origin = args[2]
   runid = args[3] or "0"
   n = 0
   non2xx = 0
   wrk.headers["Accept"] = "*/*"
   if origin then wrk.headers["Origin"] = origin end
   if mode == "post" then wrk.headers["Content-Type"] = "application/json" end
end

function request()
   if mode ~= "post" then return wrk.format(nil) end
   n = n + 1
   local text = sentences[(n % #sentences) + 1] .. " (cluster " .. runid .. "-" .. tid .. "-" .. n .. ")"
   return wrk.format("POST", "/api/v1/comments", nil,
      '{"site":"bench","thread":"/t' .. ((n % 10) + 1) .. '","body":"' .. text ..
      '","author_name":"Load ' .. tid .. '"}')
end

function response(status, headers, body)
   if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
   local bad = 0
   for _, t in ipairs(threads) do bad = bad + (t:get("non2xx") or 0) end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'WRK_JSON {"requests":%d,"rps":%.3f,"p50_us":%.0f,"p99_us":%.0f,"non2xx":%d,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
      summary.requests, summary.requests / secs, latency:percentile(50), latency:percentile(99), bad,
      e.connect, e.read, e.write, e.timeout))
end
