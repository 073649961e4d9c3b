-- Releases leases and queues work, atomically: finished runs and their retries, or work
-- handed back untouched.
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: how many lease members follow, then the members, then triples (user, entry,
-- at ms) of work to put in users' sets: a task member (a retry, a handed-back task) is
-- set at its time; a bare job id (a handed-back slot) only if the job is not there
-- already, since a newer time put there meanwhile wins.
use_stored_limits()
local released = tonumber(ARGV[5])
local touched = {}
for i = 6, 5 + released do
  local member = ARGV[i]
  redis.call('ZREM', LEASES, member)
  redis.call('HDEL', OWNERS, member)
  local user = user_of(member)
  if user then
    redis.call('SREM', held_key(user), member)
    touched[user] = true
  end
end
for i = 6 + released, #ARGV, 3 do
  local user, entry, at = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if string.find(entry, ':', 1, true) then
    redis.call('ZADD', work_key(user), at, entry)
  else
    redis.call('ZADD', work_key(user), 'NX', at, entry)
  end
  touched[user] = true
end
for user in pairs(touched) do
  settle(user)
end
return released
