-- Add a text's SimHash to one band bucket and return the bucket's recent entries.
-- KEYS: bucket zset (account_h .. simhash hex -> last t). ARGV: t_ms, member, window_ms, ttl_s,
-- cap, limit. Numbers reach Redis as strings made once (formatting one costs more than a command).
local ts, key = ARGV[1], KEYS[1]
local old = string.format('%d', tonumber(ts) - tonumber(ARGV[3]))
redis.call('ZADD', key, 'GT', ts, ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', old)
redis.call('ZREMRANGEBYRANK', key, '0', string.format('%d', -(tonumber(ARGV[5]) + 1)))
redis.call('EXPIRE', key, ARGV[4])
return redis.call('ZREVRANGEBYSCORE', key, ts, '(' .. old, 'LIMIT', '0', ARGV[6])
