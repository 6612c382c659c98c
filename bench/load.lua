-- wrk script for the end-to-end benchmark.
--   SWIFTINST_METHOD      PUT (fresh object names) or GET (pre-filled
--                         objects bench-get-0 .. N-1); default PUT
--   SWIFTINST_BODY_BYTES  PUT body size, default 4096
--   SWIFTINST_OBJECTS     N for GET, default 100
--   SWIFTINST_DEVICE      default sda
-- done() prints one line "SWIFTINST {json}" for bench/e2e.py.
local method = os.getenv("SWIFTINST_METHOD") or "PUT"
local size = tonumber(os.getenv("SWIFTINST_BODY_BYTES") or "4096")
local objects = tonumber(os.getenv("SWIFTINST_OBJECTS") or "100")
local device = os.getenv("SWIFTINST_DEVICE") or "sda"
local body = string.rep("x", size)
local threads = 0
local counter = 0
id = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() + id * 7919)
  prefix = string.format("/%s/%d/a/c/bench-%d-%d-", device, id % 64, id,
                         math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  if method == "GET" then
    return wrk.format("GET", string.format("/%s/0/a/c/bench-get-%d",
                                           device, counter % objects))
  end
  local headers = {
    ["X-Timestamp"] = string.format("%d.%05d", os.time(), counter % 100000),
    ["Content-Type"] = "application/octet-stream",
    ["Content-Length"] = tostring(size),
  }
  return wrk.format("PUT", prefix .. counter, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    "SWIFTINST {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, " ..
    "\"errors\": %d, \"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
