-- Record one review on its product (once per review hash) and read its histogram at t.
-- KEYS: five zsets, one per star rating (review hash -> t). ARGV: t_ms, review_h, rating,
-- retention_ms, ttl_s. Only the written set is trimmed and its TTL refreshed; reads are bounded
-- to (t - retention, t], so entries a quiet set still holds never count, and a set not written
-- for a retention period expires whole.
local function s(x) return string.format('%.0f', x) end
local t, rh, rating = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local retention, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local known = false
for i = 1, 5 do
  if redis.call('ZSCORE', KEYS[i], rh) then known = true end
end
if not known then
  redis.call('ZADD', KEYS[rating], s(t), rh)
  redis.call('ZREMRANGEBYSCORE', KEYS[rating], '-inf', s(t - retention))
  redis.call('EXPIRE', KEYS[rating], ttl)
end
local out = {}
local lo = '(' .. s(t - retention)
local c1h, c24h, extreme, baseline, first_ms = 0, 0, 0, 0, -1
for i = 1, 5 do
  local kept = redis.call('ZCOUNT', KEYS[i], lo, s(t))
  local day = redis.call('ZCOUNT', KEYS[i], '(' .. s(t - 86400000), s(t))
  out[i] = kept
  c1h = c1h + redis.call('ZCOUNT', KEYS[i], '(' .. s(t - 3600000), s(t))
  c24h = c24h + day
  if i == 1 or i == 5 then extreme = extreme + day end
  baseline = baseline + kept - day
  local first = redis.call('ZRANGEBYSCORE', KEYS[i], lo, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then
    local f = tonumber(first[2])
    if first_ms < 0 or f < first_ms then first_ms = f end
  end
end
out[6], out[7], out[8], out[9], out[10] = c1h, c24h, extreme, baseline, first_ms
return out
