-- wrk script for the end-to-end benchmark.
--   SWIFTINST_METHOD      PUT (fresh object names), GET (pre-filled
--                         objects bench-get-0 .. N-1) or MIX (the soak's
--                         PUTs, GETs and POSTs of recent objects, unknown
--                         devices, policies and methods); default PUT
--   SWIFTINST_BODY_BYTES  PUT body size, default 4096
--   SWIFTINST_OBJECTS     N for GET, default 100
--   SWIFTINST_DEVICE      default sda
--   SWIFTINST_PARTITIONS  spread PUTs over partitions 0 .. N-1 in turn
--                         (bench/repro_slowdown.py: where its pre-filled
--                         objects are); default: one per wrk thread
--   SWIFTINST_CONTAINER   host:port/device of the container server that
--                         each PUT updates (a/c, partition 0), as a
--                         proxy asks (bench/repro_container.py); default
--                         none
-- done() prints one line "SWIFTINST {json}" for bench/e2e.py.
local method = os.getenv("SWIFTINST_METHOD") or "PUT"
local size = tonumber(os.getenv("SWIFTINST_BODY_BYTES") or "4096")
local objects = tonumber(os.getenv("SWIFTINST_OBJECTS") or "100")
local device = os.getenv("SWIFTINST_DEVICE") or "sda"
local partitions = tonumber(os.getenv("SWIFTINST_PARTITIONS") or "0")
local container = os.getenv("SWIFTINST_CONTAINER")
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
  tag = string.format("bench-%d-%d-", id, math.random(1, 1000000000))
  prefix = string.format("/%s/%d/a/c/%s", device, id % 64, tag)
end

local odd_methods = {"PATCH", "PROPFIND", "MKCOL", "LOCK", "PURGE",
                     "REPORT", "NOTIFY", "SUBSCRIBE", "SEARCH", "LINK"}

local function mixed()
  local r = math.random(100)
  local recent = prefix .. math.max(1, counter - math.random(0, 50))
  if r <= 20 then
    return wrk.format("GET", recent)
  elseif r <= 30 then       -- metadata (not HEAD: wrk waits for its body)
    return wrk.format("POST", recent, {
      ["X-Timestamp"] = string.format("%d.%05d", os.time() + 1,
                                      counter % 100000),
      ["X-Object-Meta-Soak"] = "yes"})
  elseif r <= 37 then       -- a device that does not exist: 507
    return wrk.format("GET", string.format("/x%d/0/a/c/o",
                                           math.random(1, 1000000000)))
  elseif r <= 44 then       -- a policy that does not exist: 503
    return wrk.format("GET", recent, {
      ["X-Backend-Storage-Policy-Index"] = tostring(math.random(3, 99999))})
  elseif r <= 50 then       -- a method Swift does not serve: 405 (wrk's
                            -- parser knows only registered methods)
    return wrk.format(odd_methods[math.random(#odd_methods)], recent)
  end
  return nil                -- a PUT
end

function request()
  counter = counter + 1
  if method == "GET" then
    return wrk.format("GET", string.format("/%s/0/a/c/bench-get-%d",
                                           device, counter % objects))
  elseif method == "MIX" then
    local other = mixed()
    if other then
      return other
    end
  end
  local headers = {
    ["X-Timestamp"] = string.format("%d.%05d", os.time(), counter % 100000),
    ["Content-Type"] = "application/octet-stream",
    ["Content-Length"] = tostring(size),
  }
  if container then
    local host, dev = container:match("^(.+)/(.+)$")
    headers["X-Container-Host"] = host
    headers["X-Container-Device"] = dev
    headers["X-Container-Partition"] = "0"
  end
  local path = prefix .. counter
  if partitions > 0 then
    path = string.format("/%s/%d/a/c/%s%d", device, counter % partitions,
                         tag, counter)
  end
  return wrk.format("PUT", path, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    "SWIFTINST {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, " ..
    "\"errors\": %d, \"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
