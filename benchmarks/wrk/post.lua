-- wrk script for the benchmarks: POST a body read from a file, with a new certificate id
-- per request ("new"), the same bytes every time ("fixed"), or the file's signed lines in
-- turn ("signed"), and print a JSON summary.
--
-- wrk -s post.lua URL -- MODE BODY_FILE TAG
--   MODE       new | fixed | signed
--   BODY_FILE  the body; in "new" mode every "@ID@" becomes SB-<TAG>-<thread>-<n>;
--              in "signed" mode one request per line: Stripe-Signature value, a tab, the body
--              (run one thread: every thread would send the same lines)
--   TAG        makes ids unique across rounds and targets

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  mode = args[1]
  tag = args[3] or "x"
  counter = 0
  headers = {["Content-Type"] = "application/json"}
  if mode == "signed" then
    lines = {}
    for line in io.lines(args[2]) do
      local tab = string.find(line, "\t", 1, true)
      lines[#lines + 1] = {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)}
    end
    return
  end
  local file = assert(io.open(args[2], "rb"))
  body = file:read("*a")
  file:close()
  fixed_request = wrk.format("POST", nil, headers, body)
end

function request()
  if mode == "fixed" then
    return fixed_request
  end
  counter = counter + 1
  if mode == "signed" then
    local line = lines[(counter - 1) % #lines + 1]
    headers["Stripe-Signature"] = line[1]
    return wrk.format("POST", nil, headers, line[2])
  end
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
