-- Record one review on a device, IP or network and count its reviews and accounts at t.
-- KEYS: events zset (review hash -> t), accounts zset (account hash -> last seen t), flag.
-- ARGV: t_ms, review_h, account_h, retention_ms, ttl_s, long_window_ms, cap (newest entries
-- kept per set: a carrier-grade NAT cannot grow one key without bound; counts saturate).
local function s(x) return string.format('%.0f', x) end
local t = tonumber(ARGV[1])
local retention, ttl, long = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cap = tonumber(ARGV[7])
local ev, acc = KEYS[1], KEYS[2]
if redis.call('ZADD', ev, 'NX', s(t), ARGV[2]) == 1 then
  redis.call('ZADD', acc, 'GT', s(t), ARGV[3])
  redis.call('ZREMRANGEBYSCORE', ev, '-inf', s(t - retention))
  redis.call('ZREMRANGEBYSCORE', acc, '-inf', s(t - retention))
  redis.call('ZREMRANGEBYRANK', ev, 0, -(cap + 1))
  redis.call('ZREMRANGEBYRANK', acc, 0, -(cap + 1))
  redis.call('EXPIRE', ev, ttl)
  redis.call('EXPIRE', acc, ttl)
end
local function count(key, w) return redis.call('ZCOUNT', key, '(' .. s(t - w), s(t)) end
return {count(ev, 3600000), count(ev, 86400000), count(acc, 3600000), count(acc, 86400000),
        count(acc, long), redis.call('EXISTS', KEYS[3])}
