-- Record one review on a device, IP or network and count its reviews and accounts at t.
-- KEYS: events zset (review hash -> t), accounts zset (account hash -> last seen t), flag.
-- ARGV: t_ms, review_h, account_h, retention_ms, ttl_s, long_window_ms, cap (newest entries
-- kept per set: a carrier-grade NAT cannot grow one key without bound; counts saturate).
-- Every count sees (t - retention, t] at most, so trimming (entries older than the retention,
-- then all but the newest cap) changes no count of a stream in time order: it runs on the
-- reviews whose hash ends in "0" (1 in 16, calls.trims), not on every write.
-- Numbers reach Redis as strings made once (formatting one costs more than a command).
local ts, review_h = ARGV[1], ARGV[2]
local t, retention = tonumber(ts), tonumber(ARGV[4])
local ev, acc = KEYS[1], KEYS[2]
if redis.call('ZADD', ev, 'NX', ts, review_h) == 1 then
  redis.call('ZADD', acc, 'GT', ts, ARGV[3])
  if string.byte(review_h, -1) == 48 then
    local old = string.format('%d', t - retention)
    local cut = string.format('%d', -(tonumber(ARGV[7]) + 1))
    redis.call('ZREMRANGEBYSCORE', ev, '-inf', old)
    redis.call('ZREMRANGEBYSCORE', acc, '-inf', old)
    redis.call('ZREMRANGEBYRANK', ev, '0', cut)
    redis.call('ZREMRANGEBYRANK', acc, '0', cut)
  end
  redis.call('EXPIRE', ev, ARGV[5])
  redis.call('EXPIRE', acc, ARGV[5])
end
local function since(w) return string.format('(%d', t - math.min(w, retention)) end
local hour, day = since(3600000), since(86400000)
return {redis.call('ZCOUNT', ev, hour, ts), redis.call('ZCOUNT', ev, day, ts),
        redis.call('ZCOUNT', acc, hour, ts), redis.call('ZCOUNT', acc, day, ts),
        redis.call('ZCOUNT', acc, since(tonumber(ARGV[6])), ts),
        redis.call('EXISTS', KEYS[3])}
