-- Releases leases and queues work, atomically: finished runs and their retries, or work
-- handed back untouched.
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: how many lease members follow, then the members, then triples (user, entry,
-- at ms) of work to put in users' sets: a task member (a retry, a handed-back task) is
-- set at its time; a bare job id (a handed-back slot) only if the job is not there
-- already, since a newer time put there meanwhile wins.
use_stored_limits()
local released = tonumber(ARGV[5])
local members, held = {}, {}
for i = 6, 5 + released do
  local member = ARGV[i]
  members[#members + 1] = member
  local user = user_of(member)
  if user then
    push(held, user, member)
  end
end
chunked('ZREM', LEASES, nil, members)
chunked('HDEL', OWNERS, nil, members)
for user, owned in pairs(held) do
  chunked('SREM', held_key(user), nil, owned)
  chunked('ZREM', ahead_key(user), nil, owned)
end

local tasks, slots, earliest = {}, {}, {}
for i = 6 + released, #ARGV, 3 do
  local user, entry, at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if string.find(entry, ':', 1, true) then
    push(tasks, user, at, entry)
  else
    push(slots, user, at, entry)
  end
  note_earliest(earliest, user, at)
end
for user, pairs_ in pairs(tasks) do
  chunked('ZADD', work_key(user), nil, pairs_)
end
for user, pairs_ in pairs(slots) do
  chunked('ZADD', work_key(user), 'NX', pairs_)
end
offer(earliest)
-- A blocked user whose count went down may go again; the others' places stand (a count
-- going down never moves a user that is not blocked).
for user in pairs(held) do
  if redis.call('SISMEMBER', BLOCKED, user) == 1 then
    settle(user)
  end
end
return released
