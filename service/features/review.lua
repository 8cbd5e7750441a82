-- Keep a review's entity hashes (first sighting wins) and return its cached answer, if any.
-- KEYS: review record hash. ARGV: entity record, ttl_s.
if redis.call('HSETNX', KEYS[1], 'e', ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return redis.call('HGET', KEYS[1], 'a')
