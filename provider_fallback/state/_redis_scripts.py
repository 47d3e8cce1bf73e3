"""The Lua scripts RedisState runs. Each touches only the keys it is given (KEYS[]), all
under one prefix, so with a `{hash tag}` prefix they live in one Redis Cluster slot."""

from __future__ import annotations

__all__ = ["PUT_LUA", "RELEASE_LUA", "RETURN_CREDIT_LUA", "TAKE_CREDIT_LUA"]

# A shared window (KEYS[1]): a hash of 1-second buckets -> amount counted in them, timed by
# the Redis server's clock so replicas with skewed clocks share one window. Take credit:
# ARGV[1] window ms, ARGV[2] limit, ARGV[3] amount wanted, ARGV[4] least amount that is of
# use (one request's need: all of it or nothing), ARGV[5] ms the credit stays spendable,
# ARGV[6] amount already used without credit (counted first, even past the limit).
# Credit is counted in the bucket of the last moment it may be spent, so it stays in the
# window for at least `window` after it is spent: no `window` of real sends ever holds more
# than `limit`, wherever it was spent. A bucket leaves once its end is `window` old.
# Returns {amount granted, its bucket}, or {-1, ms until `need` fits}.
TAKE_CREDIT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local need = tonumber(ARGV[4])
local hold = tonumber(ARGV[5])
local owed = tonumber(ARGV[6])
local gone = math.floor((now - window) / 1000) - 1   -- all of bucket b is `window` old
local rows = redis.call('HGETALL', KEYS[1])
local used = 0
local live = {}
for i = 1, #rows, 2 do
  local b = tonumber(rows[i])
  local n = tonumber(rows[i + 1])
  if b <= gone or n <= 0 then
    redis.call('HDEL', KEYS[1], rows[i])
  else
    used = used + n
    live[#live + 1] = {b, n}
  end
end
if owed > 0 then
  local b = math.floor(now / 1000)
  redis.call('HINCRBY', KEYS[1], b, owed)
  used = used + owed
  live[#live + 1] = {b, owed}
end
local free = limit - used
if free >= need then
  local n = math.min(free, math.max(need, want))
  local b = math.floor((now + hold) / 1000)
  redis.call('HINCRBY', KEYS[1], b, n)
  redis.call('PEXPIRE', KEYS[1], window + hold + 1000)
  return {n, b}
end
if #live > 0 then redis.call('PEXPIRE', KEYS[1], window + hold + 1000) end
table.sort(live, function(x, y) return x[1] < y[1] end)
local short = need - free
for _, e in ipairs(live) do
  short = short - e[2]
  if short <= 0 then return {-1, math.max(1, (e[1] + 2) * 1000 + window - now)} end
end
return {-1, window}
"""

# Give credit back: pairs of (bucket, amount) in ARGV; a bucket that already left the
# window (or was lost) is left alone.
RETURN_CREDIT_LUA = """
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    if redis.call('HINCRBY', KEYS[1], ARGV[i], -tonumber(ARGV[i + 1])) <= 0 then
      redis.call('HDEL', KEYS[1], ARGV[i])
    end
  end
end
return 0
"""

# Write one entry unless Redis already holds a newer one (a replica back from an outage
# must not overwrite what the others learned meanwhile), then tell the other replicas.
# Circuit rows carry a generation (ARGV[6], -1 for other rows): a higher one always wins,
# a lower one never does, the revision decides between equal ones.
PUT_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' then
    local gen, oldgen = tonumber(ARGV[6]), tonumber(old['g'])
    if gen >= 0 and oldgen and oldgen ~= gen then
      if oldgen > gen then return 0 end
    elseif tonumber(old['rev']) and tonumber(old['rev']) >= tonumber(ARGV[3]) then
      return 0
    end
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
