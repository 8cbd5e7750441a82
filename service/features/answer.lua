-- Cache the answer given for a review. KEYS: review record hash. ARGV: payload, ttl_s.
redis.call('HSET', KEYS[1], 'a', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
