-- Record one review on a device, IP or network and count its reviews and accounts at t.
-- KEYS: events zset (review hash -> t), accounts zset (account hash -> last seen t), flag.
-- ARGV: t_ms, review_h, account_h, retention_ms, ttl_s, long_window_ms, cap (newest entries
-- kept per set: a carrier-grade NAT cannot grow one key without bound; counts saturate).
-- Numbers reach Redis as strings made once (formatting one costs more than a command).
local ts = ARGV[1]
local t = tonumber(ts)
local ev, acc = KEYS[1], KEYS[2]
if redis.call('ZADD', ev, 'NX', ts, ARGV[2]) == 1 then
  local old = string.format('%d', t - tonumber(ARGV[4]))
  local cut = string.format('%d', -(tonumber(ARGV[7]) + 1))
  redis.call('ZADD', acc, 'GT', ts, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', ev, '-inf', old)
  redis.call('ZREMRANGEBYSCORE', acc, '-inf', old)
  redis.call('ZREMRANGEBYRANK', ev, '0', cut)
  redis.call('ZREMRANGEBYRANK', acc, '0', cut)
  redis.call('EXPIRE', ev, ARGV[5])
  redis.call('EXPIRE', acc, ARGV[5])
end
local hour = string.format('(%d', t - 3600000)
local day = string.format('(%d', t - 86400000)
return {redis.call('ZCOUNT', ev, hour, ts), redis.call('ZCOUNT', ev, day, ts),
        redis.call('ZCOUNT', acc, hour, ts), redis.call('ZCOUNT', acc, day, ts),
        redis.call('ZCOUNT', acc, string.format('(%d', t - tonumber(ARGV[6])), ts),
        redis.call('EXISTS', KEYS[3])}
