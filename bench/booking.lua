-- wrk script: citizens reserve an offer and confirm the hold. Reservations follow a fixed
-- schedule of `RATE` per second over all threads (open loop: a slow answer does not slow the
-- schedule down, so latency is not hidden by the load generator waiting); a connection that
-- would start a reservation waits for the thread's next free slot of the schedule. Lua state
-- is per wrk thread (shared by its connections), so a reserved hold goes into a queue that the
-- thread's next request serves, at once.
-- Each thread books its own share of the offers, in the file's order (bench/booking.py shuffles
-- them); when they run out, it reserves its first offer again (a conflict).
-- Environment: OFFERS_FILE (one offer id per line), API_KEY, RATE, CONNECTIONS, THREADS.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local offers = {}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local threads_n = tonumber(os.getenv("THREADS"))
  local n = 0
  for line in io.lines(os.getenv("OFFERS_FILE")) do
    if n % threads_n == id - 1 then table.insert(offers, line) end
    n = n + 1
  end
  math.randomseed(id * 7919)
  key = os.getenv("API_KEY")
  -- this thread starts a reservation every `interval` ms
  interval = 1000 * threads_n / tonumber(os.getenv("RATE"))
  next_at = now_ms() + math.random() * interval
  pending = {}
  confirmed, conflicts, errors, seq, scheduled = 0, 0, 0, 0, 0
  connections = tonumber(os.getenv("CONNECTIONS")) / threads_n
  opened, started = 0, false
end

function delay()
  if #pending > 0 then return 0 end
  local slot = next_at
  next_at = next_at + interval
  scheduled = scheduled + 1
  return math.max(0, slot - now_ms())
end

function request()
  local headers = { ["X-API-Key"] = key, ["Content-Type"] = "application/json" }
  if not started then
    -- wrk sends each connection's first request at once, without asking delay(): a health
    -- check, so that the run does not open with a burst of one reservation per connection.
    opened = opened + 1
    if opened >= connections then started = true end
    return wrk.format("GET", "/healthz")
  end
  if #pending > 0 then
    local hold = table.remove(pending, 1)
    return wrk.format("POST", "/api/v1/holds/" .. hold .. "/confirm", headers, "")
  end
  if seq >= scheduled then
    -- a connection that waited for a confirmation another one took: the reservation it sends
    -- instead takes the schedule's next slot, so the rate stays as asked
    next_at = next_at + interval
    scheduled = scheduled + 1
  end
  seq = seq + 1
  local offer = offers[seq] or offers[1]
  local body = '{"offer_id":"' .. offer .. '","citizen_ref":"bench-' .. id .. '-' .. seq .. '"}'
  return wrk.format("POST", "/api/v1/holds", headers, body)
end

function response(status, headers, body)
  if status == 201 then
    table.insert(pending, body:match('"id":"([^"]+)"'))
  elseif status == 200 and body == '{"status":"ok"}' then
    -- the health check that opened a connection
  elseif status == 200 and body:find('"status":"confirmed"', 1, true) then
    confirmed = confirmed + 1
  elseif status == 409 or status == 404 then
    conflicts = conflicts + 1
    if conflicts <= 3 then io.write("CONFLICT " .. status .. " " .. body:sub(1, 200) .. "\n") end
  else
    errors = errors + 1
    if errors < 3 then io.write("ERROR " .. status .. " " .. body:sub(1, 200) .. "\n") end
  end
end

function done(summary, latency, requests)
  local c, k, e, r = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("confirmed"); k = k + t:get("conflicts"); e = e + t:get("errors")
    r = r + t:get("seq")
  end
  io.write(string.format("RESULT confirmed=%d conflicts=%d errors=%d reserved=%d requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    c, k, e, r, summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
