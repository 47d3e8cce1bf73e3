"""The Lua scripts RedisState runs. Each touches only the keys it is given (KEYS[]), all
under one prefix, so with a `{hash tag}` prefix they live in one Redis Cluster slot."""

from __future__ import annotations

__all__ = ["PUT_LUA", "RELEASE_LUA", "TAKE_PERMITS_LUA"]

# Take up to ARGV[4] permits from the sliding window of KEYS[1] (a sorted set of permits),
# timed by the Redis server's clock so replicas with skewed clocks share one window.
# A permit is scored at grant time + its validity (ARGV[5] ms): the latest moment it may be
# spent. It therefore stays in the window for at least `window` after it is spent, so no
# `window` of real sends ever holds more than `limit` permits, wherever they were spent.
# ARGV[6] requests already sent without a permit (before the limit was known) are added
# first, as they are: they count against the limit even if it is already full.
# All or nothing: at least ARGV[7] permits (one request's worth), else none.
# Returns the number granted (> 0), or minus the ms until that many are free.
TAKE_PERMITS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local hold = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local sent = tonumber(ARGV[6] or '0')
for i = 1, sent do
  redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':s' .. i)
end
local need = tonumber(ARGV[7] or '1')
local free = limit - redis.call('ZCARD', KEYS[1])
if free >= need then
  local n = math.min(free, math.max(need, tonumber(ARGV[4])))
  local args = {}
  for i = 1, n do
    args[#args + 1] = now + hold
    args[#args + 1] = ARGV[3] .. ':' .. i
  end
  redis.call('ZADD', KEYS[1], unpack(args))
  redis.call('PEXPIRE', KEYS[1], window + hold)
  return n
end
redis.call('PEXPIRE', KEYS[1], window + hold)
local frees = redis.call('ZRANGE', KEYS[1], need - free - 1, need - free - 1, 'WITHSCORES')
if frees[2] == nil then return -math.max(1, window) end
return -math.max(1, tonumber(frees[2]) + window - now)
"""

# Write one entry unless Redis already holds a newer one (a replica back from an outage
# must not overwrite what the others learned meanwhile), then tell the other replicas.
PUT_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and tonumber(old['rev']) and
     tonumber(old['rev']) >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[2], ARGV[5])
return 1
"""

# Release a trial lease only if we still hold it.
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
