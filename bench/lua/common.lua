-- Shared by the bench scripts: numbers each wrk thread (setup) and prints one machine-readable summary line
-- (done) that bench/wrk.py parses. Latencies are in microseconds, as wrk measures them.
local M = {}
local created = 0

function M.setup(thread)
  created = created + 1
  thread:set("id", created)
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end

return M
