-- wrk script of the load benchmark: keep-alive POSTs rotating through the weighted
-- AdmissionReview mix (bench/reviews/mix.txt), and one JSON line of results from done().
-- Usage: wrk ... -s bench/wrk_mix.lua https://127.0.0.1:PORT/validate -- MIX_FILE

local requests = {}
local index = 0

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

function init(args)
  local mix = args[1] or "bench/reviews/mix.txt"
  local dir = mix:match("^(.*/)") or ""
  local bodies = {}
  for line in io.lines(mix) do
    local weight, file = line:match("^(%d+)%s+(%S+)")
    if weight then
      local body = read_file(dir .. file)
      for _ = 1, tonumber(weight) do bodies[#bodies + 1] = body end
    end
  end
  -- Spread the weights through the cycle (stride coprime with its length), as the open-loop
  -- client does, so CPU and GPU bodies alternate instead of arriving in runs.
  local n = #bodies
  local stride = 7
  local function gcd(a, b) while b ~= 0 do a, b = b, a % b end return a end
  while gcd(stride, n) ~= 1 do stride = stride + 1 end
  local headers = { ["Content-Type"] = "application/json" }
  for i = 0, n - 1 do
    requests[(i * stride) % n + 1] = wrk.format("POST", wrk.path, headers, bodies[i + 1])
  end
  -- Threads start at different points of the cycle.
  index = math.random(n) - 1
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, _)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"requests_per_s":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,' ..
    '"p999_ms":%.3f,"max_ms":%.3f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
