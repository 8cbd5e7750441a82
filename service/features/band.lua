-- Add a text's SimHash to one band bucket and return the bucket's recent entries.
-- KEYS: bucket zset (account_h .. simhash hex -> last t). ARGV: t_ms, member, window_ms, ttl_s,
-- cap, limit.
local function s(x) return string.format('%.0f', x) end
local t, window = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'GT', s(t), ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(t - window))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[5]) + 1))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return redis.call('ZREVRANGEBYSCORE', KEYS[1], s(t), '(' .. s(t - window), 'LIMIT', 0,
                  tonumber(ARGV[6]))
