-- Shared wrk reporting hook, loaded with dofile() by the other scripts.
--
-- Prints exactly one machine-readable line that bench/compare-isso parses:
--   WRK_JSON {"requests":..., "rps":..., "p99_us":..., "err_status":..., ...}
-- err_status is wrk's count of responses with status > 399; the harness checks
-- every target answers 2xx once before loading it, so together with
-- err_status == 0 every response in the run was 2xx.
-- No response() hook is defined on purpose: defining one makes wrk copy every
-- response body into Lua, which would distort the nginx ceiling for big bodies.

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_s":%.3f,"bytes":%d,"rps":%.3f,' ..
      '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, secs, summary.bytes, summary.requests / secs,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
