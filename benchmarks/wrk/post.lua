-- wrk script for the benchmarks: POST a body read from a file, with a new certificate id
-- per request ("new") or the same bytes every time ("fixed"), and print a JSON summary.
--
-- wrk -s post.lua URL -- MODE BODY_FILE TAG
--   MODE       new | fixed
--   BODY_FILE  the body; in "new" mode every "@ID@" becomes SB-<TAG>-<thread>-<n>
--   TAG        makes ids unique across rounds and targets

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  mode = args[1]
  local file = assert(io.open(args[2], "rb"))
  body = file:read("*a")
  file:close()
  tag = args[3] or "x"
  counter = 0
  headers = {["Content-Type"] = "application/json"}
  fixed_request = wrk.format("POST", nil, headers, body)
end

function request()
  if mode == "fixed" then
    return fixed_request
  end
  counter = counter + 1
  local id = string.format("SB-%s-%d-%d", tag, thread_id, counter)
  return wrk.format("POST", nil, headers, (string.gsub(body, "@ID@", id)))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d}, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
