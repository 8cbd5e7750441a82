-- Record one review on its account (once per member) and read the account's history at t.
-- KEYS: events zset, confirmed-fraud flag. ARGV: t_ms, member (review|product8|rating),
-- product8, retention_ms, cap, ttl_s. Members: 12 hex review hash .. 8 hex product .. 1 digit.
-- Every read sees (t - retention, t] only, so trimming (entries older than the retention, then
-- all but the newest cap) changes no read of a stream in time order: it runs on the reviews
-- whose hash ends in "0" (1 in 16, calls.trims), not on every write.
-- Numbers reach Redis as strings made once: each one formatted costs more than a command here.
local ts, member, product = ARGV[1], ARGV[2], ARGV[3]
local t, retention = tonumber(ts), tonumber(ARGV[4])
local ev = KEYS[1]
local old = string.format('%d', t - retention)
if redis.call('ZADD', ev, 'NX', ts, member) == 1 then
  if string.byte(member, -10) == 48 then  -- the review hash's last digit is "0"
    redis.call('ZREMRANGEBYSCORE', ev, '-inf', old)
    redis.call('ZREMRANGEBYRANK', ev, '0', string.format('%d', -(tonumber(ARGV[5]) + 1)))
  end
  redis.call('EXPIRE', ev, ARGV[6])
end
local lo = '(' .. old
local function count(w)
  return redis.call('ZCOUNT', ev, string.format('(%d', t - math.min(w, retention)), ts)
end
local before, same_product, rating_sum, extreme, distance3 = 0, 0, 0, 0, 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ev, lo, ts)) do
  if m ~= member then
    local rating = tonumber(string.sub(m, 21, 21))
    before = before + 1
    if string.sub(m, 13, 20) == product then same_product = same_product + 1 end
    rating_sum = rating_sum + rating
    if rating == 1 or rating == 5 then extreme = extreme + 1 end
    distance3 = distance3 + math.abs(rating - 3)
  end
end
local first = redis.call('ZRANGEBYSCORE', ev, lo, '+inf', 'WITHSCORES', 'LIMIT', '0', '1')
local first_ms = -1
if first[2] then first_ms = tonumber(first[2]) end
return {before, count(3600000), count(86400000), count(604800000), same_product, rating_sum,
        extreme, distance3, first_ms, redis.call('EXISTS', KEYS[2])}
