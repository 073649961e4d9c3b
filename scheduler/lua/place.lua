-- Changes users' work and plans, then settles each user touched.
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: what to do with each triple (user, entry, value) that follows:
--   'set'     puts entry (a job id or task member) in the user's work at value (ms);
--   'missing' does so only where the entry is not there (the reconciler's repairs);
--   'remove'  takes the entry out;
--   'plan'    records value as the user's plan (entry unused);
--   'mend'    settles the user, after dropping leases that no longer exist (what a crash
--             may leave) from its ahead set, and from its held set if it is blocked (a
--             count too high only matters at the limit, and a busy user's held set is
--             large), so that the reconciler's pass keeps every user's counts and place
--             right (entry and value unused).
use_stored_limits()
local mode = ARGV[5]
local touched = {}
-- Entries added, by user, and each user's earliest: work added never lowers a user's
-- count, so the user is ready at the earlier of that and its place, unless blocked (the
-- scheduler's put-back of next fire times comes here by the thousand: one look per user,
-- no full settle).
local added, earliest = {}, {}
for i = 6, #ARGV, 3 do
  local user, entry, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if mode == 'set' or mode == 'missing' then
    local at = tonumber(value)
    push(added, user, at, entry)
    note_earliest(earliest, user, at)
  else
    if mode == 'remove' then
      redis.call('ZREM', work_key(user), entry)
    elseif mode == 'plan' then
      redis.call('HSET', PLANS, user, value)
    elseif mode == 'mend' then
      for _, member in ipairs(redis.call('ZRANGE', ahead_key(user), 0, -1)) do
        if not redis.call('ZSCORE', LEASES, member) then
          redis.call('ZREM', ahead_key(user), member)
        end
      end
      if redis.call('SISMEMBER', BLOCKED, user) == 1 then
        local held = held_key(user)
        for _, member in ipairs(redis.call('SMEMBERS', held)) do
          if not redis.call('ZSCORE', LEASES, member) then
            redis.call('SREM', held, member)
          end
        end
      end
    end
    touched[user] = true
  end
end
for user, pairs_ in pairs(added) do
  chunked('ZADD', work_key(user), mode == 'missing' and 'NX' or nil, pairs_)
end
offer(earliest)
for user in pairs(touched) do
  settle(user)
end
return 0
