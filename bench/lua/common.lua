-- Shared by the wrk scripts: the API key header, and a JSON summary line for bench/http.py.
local M = {}

function M.headers()
  return {
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_API_KEY"),
    ["Content-Type"] = "application/json",
  }
end

-- wrk calls done() once, in the main thread, after every thread has stopped.
function M.done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, latency.mean, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end

return M
