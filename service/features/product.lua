-- Record one review on its product (once per review hash) and read its histogram at t.
-- KEYS: five zsets, one per star rating (review hash -> t). ARGV: t_ms, review_h, rating,
-- retention_ms, ttl_s. Only the written set is trimmed (on the reviews whose hash ends in "0",
-- 1 in 16: calls.trims) and its TTL refreshed; reads are bounded
-- to (t - retention, t], so entries a quiet set still holds never count, and a set not written
-- for a retention period expires whole.
-- Each set's first entry after t - retention is read first: when there is none, or it is later
-- than t, 1 h or 24 h ago, the counts it rules out or makes equal are not asked of Redis.
-- Numbers reach Redis as strings made once (formatting one costs more than a command).
local ts, rh, rating = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t, retention = tonumber(ts), tonumber(ARGV[4])
local known = false
for i = 1, 5 do
  if redis.call('ZSCORE', KEYS[i], rh) then known = true end
end
local old = string.format('%d', t - retention)
if not known then
  redis.call('ZADD', KEYS[rating], ts, rh)
  if string.byte(rh, -1) == 48 then  -- 1 in 16 (calls.trims): reads never see what it drops
    redis.call('ZREMRANGEBYSCORE', KEYS[rating], '-inf', old)
  end
  redis.call('EXPIRE', KEYS[rating], ARGV[5])
end
local out = {}
local lo = '(' .. old
local day_lo, hour_lo = t - 86400000, t - 3600000
local day_s, hour_s = string.format('(%d', day_lo), string.format('(%d', hour_lo)
local c1h, c24h, extreme, baseline, first_ms = 0, 0, 0, 0, -1
for i = 1, 5 do
  local kept, day, hour = 0, 0, 0
  local first = redis.call('ZRANGEBYSCORE', KEYS[i], lo, '+inf', 'WITHSCORES', 'LIMIT', '0', '1')
  if first[2] then
    local f = tonumber(first[2])
    if first_ms < 0 or f < first_ms then first_ms = f end
    if f <= t then
      kept = redis.call('ZCOUNT', KEYS[i], lo, ts)
      if f > day_lo then day = kept else day = redis.call('ZCOUNT', KEYS[i], day_s, ts) end
      if day == 0 then hour = 0
      elseif f > hour_lo then hour = day
      else hour = redis.call('ZCOUNT', KEYS[i], hour_s, ts) end
    end
  end
  out[i] = kept
  c1h = c1h + hour
  c24h = c24h + day
  if i == 1 or i == 5 then extreme = extreme + day end
  baseline = baseline + kept - day
end
out[6], out[7], out[8], out[9], out[10] = c1h, c24h, extreme, baseline, first_ms
return out
