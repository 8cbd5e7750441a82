-- wrk script: POST a stream of review bodies, closed-loop or at a fixed rate with corrected latency.
--
-- Environment (read by every wrk thread):
--   BENCH_BODIES   file with one JSON body per line; its review_id is the placeholder @RID@
--   BENCH_RATE     total requests per second over all threads; 0 = closed loop (as fast as it goes)
--   BENCH_THREADS  the -t given to wrk (each thread sends BENCH_RATE / BENCH_THREADS)
--   BENCH_PHASE    tag put in every review_id, so that phases never replay each other's ids
--   BENCH_OUT      where done() writes the summary and one line per response
--   BENCH_PATH     request path (default /v1/reviews/score)
--
-- Fixed rate, open loop in the way of wrk2: each thread owns a schedule of send slots, one every
-- 1/rate s. A connection that is free asks delay() for the next slot and waits for it. A connection
-- that was still busy when its slot came (the server was slow) sends at once, and that request's
-- latency is counted from the slot, not from the late send: a stalled server is charged for the
-- requests it kept waiting (no coordinated omission). A request sent on time is counted from its
-- actual send, so wrk's millisecond timers do not inflate the figures.
--
-- The clock is CLOCK_MONOTONIC in microseconds (LuaJIT FFI), the same clock as Python's
-- time.monotonic(): the orchestrator lines the records up with the moment Redis was frozen.
-- Each review_id ends with the latency baseline; the service echoes review_id in its answer, so
-- response() can compute the latency without knowing which connection answered.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } rg_timespec;
int clock_gettime(int clk_id, rg_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("rg_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
local bodies_path = os.getenv("BENCH_BODIES")
local phase = os.getenv("BENCH_PHASE") or "p"
local out_path = os.getenv("BENCH_OUT")
local path = os.getenv("BENCH_PATH") or "/v1/reviews/score"

wrk.method = "POST"
wrk.path = path
wrk.headers["Content-Type"] = "application/json"

-- Main state: the threads, for done().
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

-- Thread state.
local heads, tails, n_bodies, pos, seq
local interval_us, next_slot_us
local q_slot, q_late, q_head, q_tail = {}, {}, 1, 0
rec_base, rec_end, rec_status, rec_degraded, n_rec = {}, {}, {}, {}, 0
t0_us = 0

function init(args)
  heads, tails, n_bodies = {}, {}, 0
  local f = assert(io.open(bodies_path, "r"), "cannot open BENCH_BODIES")
  for line in f:lines() do
    local i, j = string.find(line, "@RID@", 1, true)
    if i then
      n_bodies = n_bodies + 1
      heads[n_bodies] = string.sub(line, 1, i - 1)
      tails[n_bodies] = string.sub(line, j + 1)
    end
  end
  f:close()
  assert(n_bodies > 0, "no bodies with @RID@ in BENCH_BODIES")
  pos = math.floor((tid - 1) * n_bodies / nthreads)
  seq = 0
  t0_us = now_us()
  if rate > 0 then
    interval_us = 1000000 * nthreads / rate
    next_slot_us = t0_us + (tid - 1) * interval_us / nthreads
  end
end

if rate > 0 then
  function delay()
    local now = now_us()
    local slot = next_slot_us
    next_slot_us = slot + interval_us
    q_tail = q_tail + 1
    q_slot[q_tail] = slot
    q_late[q_tail] = now >= slot
    if slot > now then
      return math.ceil((slot - now) / 1000)
    end
    return 0
  end
end

function request()
  local now = now_us()
  local base = now
  if q_head <= q_tail then
    if q_late[q_head] then
      base = q_slot[q_head]
    end
    q_slot[q_head], q_late[q_head] = nil, nil
    q_head = q_head + 1
  end
  seq = seq + 1
  pos = pos % n_bodies + 1
  local id = phase .. "-" .. tid .. "-" .. seq .. "-" .. string.format("%d", base)
  return wrk.format(nil, nil, nil, heads[pos] .. id .. tails[pos])
end

function response(status, headers, body)
  local now = now_us()
  local base = -1
  local degraded = 0
  if body then
    base = tonumber(string.match(body, '"review_id":"[^"]*%-(%d+)"')) or -1
    if string.find(body, '"degraded":true', 1, true) then
      degraded = 1
    end
  end
  n_rec = n_rec + 1
  rec_base[n_rec] = base
  rec_end[n_rec] = now
  rec_status[n_rec] = status
  rec_degraded[n_rec] = degraded
end

function done(summary, latency, requests)
  local out = assert(io.open(out_path, "w"))
  local e = summary.errors
  out:write(string.format(
    "summary duration_us=%d requests=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout))
  for _, thread in ipairs(threads) do
    out:write(string.format("thread t0_us=%d\n", thread:get("t0_us")))
    local base, fin = thread:get("rec_base"), thread:get("rec_end")
    local st, dg = thread:get("rec_status"), thread:get("rec_degraded")
    for i = 1, thread:get("n_rec") do
      out:write(string.format("%d %d %d %d\n", base[i], fin[i], st[i], dg[i]))
    end
  end
  out:close()
end
