"""Lua scripts of the moderation queue: atomic, on keys of one hash tag, in Redis time."""

from __future__ import annotations

# Every script reads the clock of the Redis server that holds the queue, so leases compare the
# same clock whichever pod wrote them. Times are epoch milliseconds.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: item, queue, product index, reason indexes...  ARGV: member, priority, record, retention_ms
# Returns 1 when newly queued, 0 when this review was queued (or decided) before.
ENQUEUE = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rec', ARGV[3], 'status', 'queued', 'enq_ms', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
return 1
"""
)

# KEYS: index  ARGV: max score ('+inf' or a score), min score, offset, count
# Returns {now_ms, member1, score1, member2, score2, ...}
RANGE = (
    _NOW
    + """
local rows = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES', 'LIMIT',
  tonumber(ARGV[3]), tonumber(ARGV[4]))
table.insert(rows, 1, string.format('%d', now))
return rows
"""
)

# KEYS: item  ARGV: moderator_id, lease_ms
# Returns {'ok', expires_ms, is_renewal} | {'missing'} | {'decided'}
#       | {'claimed', holder, expires_ms}
CLAIM = (
    _NOW
    + """
local st = redis.call('HMGET', KEYS[1], 'status', 'holder', 'lease_ms')
if not st[1] then return {'missing'} end
if st[1] == 'decided' then return {'decided'} end
local live = st[2] and st[3] and tonumber(st[3]) > now
if live and st[2] ~= ARGV[1] then return {'claimed', st[2], st[3]} end
local expires = string.format('%d', now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'lease_ms', expires)
return {'ok', expires, live and 1 or 0}
"""
)

# KEYS: item  ARGV: moderator_id
# Returns {'ok'} | {'missing'} | {'decided'} | {'not_holder'}
RELEASE = (
    _NOW
    + """
local st = redis.call('HMGET', KEYS[1], 'status', 'holder', 'lease_ms')
if not st[1] then return {'missing'} end
if st[1] == 'decided' then return {'decided'} end
if not st[2] or st[2] ~= ARGV[1] or tonumber(st[3]) <= now then return {'not_holder'} end
redis.call('HDEL', KEYS[1], 'holder', 'lease_ms')
return {'ok'}
"""
)

# KEYS: item, queue, decided, precision bucket, stream, product index, reason indexes...
# ARGV: member, verdict, moderator_id, note, source, record, mode ('decision'|'feedback'),
#       retention_ms, stream_maxlen, group, n_codes, codes..., stream field/value pairs...
# 'decision' needs the review in moderation and respects another moderator's live lease;
# 'feedback' takes a verdict from any source on any scored review (record given).
# Returns {'ok', decided_ms} | {'repeat', decided_ms, moderator, source}
#       | {'conflict', verdict} | {'missing'} | {'claimed', holder, expires_ms}
VERDICT = (
    _NOW
    + """
local st = redis.call('HMGET', KEYS[1], 'status', 'holder', 'lease_ms', 'verdict', 'dec_ms',
  'by', 'src')
if st[1] == 'decided' then
  if st[4] == ARGV[2] then return {'repeat', st[5], st[6] or '', st[7] or ''} end
  return {'conflict', st[4]}
end
if not st[1] then
  if ARGV[7] == 'decision' then return {'missing'} end
  redis.call('HSET', KEYS[1], 'rec', ARGV[6], 'enq_ms', string.format('%d', now))
elseif ARGV[7] == 'decision' and st[2] and st[2] ~= ARGV[3] and tonumber(st[3]) > now then
  return {'claimed', st[2], st[3]}
end
local dec = string.format('%d', now)
local retention = tonumber(ARGV[8])
redis.call('HSET', KEYS[1], 'status', 'decided', 'verdict', ARGV[2], 'by', ARGV[3],
  'note', ARGV[4], 'src', ARGV[5], 'dec_ms', dec)
redis.call('HDEL', KEYS[1], 'holder', 'lease_ms')
redis.call('PEXPIRE', KEYS[1], retention)
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 6, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('ZADD', KEYS[3], dec, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('(%d', now - retention))
redis.call('PEXPIRE', KEYS[3], retention)
local is_fake = ARGV[2] == 'fake'
local n_codes = tonumber(ARGV[11])
redis.call('HINCRBY', KEYS[4], '*:n', 1)
if is_fake then redis.call('HINCRBY', KEYS[4], '*:f', 1) end
for i = 12, 11 + n_codes do
  redis.call('HINCRBY', KEYS[4], ARGV[i] .. ':n', 1)
  if is_fake then redis.call('HINCRBY', KEYS[4], ARGV[i] .. ':f', 1) end
end
redis.call('PEXPIRE', KEYS[4], retention + 86400000)
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.pcall('XGROUP', 'CREATE', KEYS[5], ARGV[10], '0', 'MKSTREAM')
end
local entry = {'XADD', KEYS[5], 'MAXLEN', '~', ARGV[9], '*', 'decided_ms', dec}
for i = 12 + n_codes, #ARGV do table.insert(entry, ARGV[i]) end
redis.call(unpack(entry))
redis.call('PEXPIRE', KEYS[5], retention)
return {'ok', dec}
"""
)

# KEYS: precision buckets  Returns {field1, total1, field2, total2, ...} summed over the buckets.
PRECISION = """
local sums = {}
for i = 1, #KEYS do
  local kv = redis.call('HGETALL', KEYS[i])
  for j = 1, #kv, 2 do sums[kv[j]] = (sums[kv[j]] or 0) + tonumber(kv[j + 1]) end
end
local out = {}
for k, v in pairs(sums) do table.insert(out, k); table.insert(out, v) end
return out
"""
