-- Add a text's SimHash to one band bucket and return the bucket's recent entries.
-- KEYS: bucket zset (account_h .. simhash hex -> last t). ARGV: t_ms, member, window_ms, ttl_s,
-- cap, limit, review_h. The read sees the newest `limit` of (t - window, t] only, so trimming
-- (entries older than the window, then all but the newest cap) changes no read of a stream in
-- time order: it runs on the reviews whose hash ends in "0" (1 in 16, calls.trims).
-- Numbers reach Redis as strings made once (formatting one costs more than a command).
local ts, key = ARGV[1], KEYS[1]
local old = string.format('%d', tonumber(ts) - tonumber(ARGV[3]))
redis.call('ZADD', key, 'GT', ts, ARGV[2])
if string.byte(ARGV[7], -1) == 48 then
  redis.call('ZREMRANGEBYSCORE', key, '-inf', old)
  redis.call('ZREMRANGEBYRANK', key, '0', string.format('%d', -(tonumber(ARGV[5]) + 1)))
end
redis.call('EXPIRE', key, ARGV[4])
return redis.call('ZREVRANGEBYSCORE', key, ts, '(' .. old, 'LIMIT', '0', ARGV[6])
