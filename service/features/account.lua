-- Record one review on its account (once per member) and read the account's history at t.
-- KEYS: events zset, confirmed-fraud flag. ARGV: t_ms, member (review|product8|rating),
-- product8, retention_ms, cap, ttl_s. Members: 12 hex review hash .. 8 hex product .. 1 digit.
-- Numbers reach Redis as strings made once: each one formatted costs more than a command here.
local ts, member, product = ARGV[1], ARGV[2], ARGV[3]
local t = tonumber(ts)
local ev = KEYS[1]
if redis.call('ZADD', ev, 'NX', ts, member) == 1 then
  redis.call('ZREMRANGEBYSCORE', ev, '-inf', string.format('%d', t - tonumber(ARGV[4])))
  redis.call('ZREMRANGEBYRANK', ev, '0', string.format('%d', -(tonumber(ARGV[5]) + 1)))
  redis.call('EXPIRE', ev, ARGV[6])
end
local function count(w) return redis.call('ZCOUNT', ev, string.format('(%d', t - w), ts) end
local before, same_product, rating_sum, extreme, distance3 = 0, 0, 0, 0, 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', ev, '-inf', ts)) do
  if m ~= member then
    local rating = tonumber(string.sub(m, 21, 21))
    before = before + 1
    if string.sub(m, 13, 20) == product then same_product = same_product + 1 end
    rating_sum = rating_sum + rating
    if rating == 1 or rating == 5 then extreme = extreme + 1 end
    distance3 = distance3 + math.abs(rating - 3)
  end
end
local first = redis.call('ZRANGE', ev, '0', '0', 'WITHSCORES')
local first_ms = -1
if first[2] then first_ms = tonumber(first[2]) end
return {before, count(3600000), count(86400000), count(604800000), same_product, rating_sum,
        extreme, distance3, first_ms, redis.call('EXISTS', KEYS[2])}
