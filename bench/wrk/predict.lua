-- One logical prediction per request: timed from its first attempt to its 2xx, a 409 (coglet's
-- "all slots busy") re-sent at once and counted in that prediction's time, every 2xx body
-- checked for the expected output. Set by the environment:
--   BENCH_PATH   the URL path to POST to
--   BENCH_BODY   the JSON body
--   BENCH_EXPECT a string every 2xx body must contain
--   BENCH_AUTH   an Authorization header value (optional)
--   BENCH_PREFER a Prefer header value (optional)
-- done() prints one JSON line: the logical requests' latencies in µs and the counts.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local expect = os.getenv("BENCH_EXPECT")
local started = nil
samples = {}
ok, conflicts, bad = 0, 0, 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if os.getenv("BENCH_AUTH") then headers["Authorization"] = os.getenv("BENCH_AUTH") end
  if os.getenv("BENCH_PREFER") then headers["Prefer"] = os.getenv("BENCH_PREFER") end
  req = wrk.format("POST", os.getenv("BENCH_PATH"), headers, os.getenv("BENCH_BODY"))
end

function request()
  if started == nil then started = now_us() end
  return req
end

function response(status, headers, body)
  if status == 409 then
    conflicts = conflicts + 1
    return -- the same logical request goes again, its clock still running
  end
  local took = now_us() - started
  started = nil
  if status >= 200 and status < 300 and string.find(body, expect, 1, true) then
    ok = ok + 1
    samples[ok] = took
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected answer " .. status .. ": " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local all, okc, conflictc, badc = {}, 0, 0, 0
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get("samples")) do table.insert(all, v) end
    okc = okc + thread:get("ok")
    conflictc = conflictc + thread:get("conflicts")
    badc = badc + thread:get("bad")
  end
  table.sort(all)
  local function pct(q)
    if #all == 0 then return 0 end
    return all[math.max(1, math.min(#all, math.ceil(q * #all)))]
  end
  io.write(string.format(
    '{"ok":%d,"conflicts":%d,"bad":%d,"socket_errors":%d,"duration_us":%d,'
      .. '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f}\n',
    okc, conflictc, badc,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, pct(0.5), pct(0.9), pct(0.99), pct(1.0)))
end
