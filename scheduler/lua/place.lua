-- Changes users' work and plans, then settles each user touched.
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: what to do with each triple (user, entry, value) that follows:
--   'set'     puts entry (a job id or task member) in the user's work at value (ms);
--   'missing' does so only where the entry is not there (the reconciler's repairs);
--   'remove'  takes the entry out;
--   'plan'    records value as the user's plan (entry unused), and drops from the user's
--             held set the leases that no longer exist (what a crash may leave), so the
--             reconciler's pass keeps every user's count and place right.
use_stored_limits()
local mode = ARGV[5]
local touched = {}
for i = 6, #ARGV, 3 do
  local user, entry, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if mode == 'set' then
    redis.call('ZADD', work_key(user), value, entry)
  elseif mode == 'missing' then
    redis.call('ZADD', work_key(user), 'NX', value, entry)
  elseif mode == 'remove' then
    redis.call('ZREM', work_key(user), entry)
  elseif mode == 'plan' then
    redis.call('HSET', PLANS, user, value)
    local held = held_key(user)
    for _, member in ipairs(redis.call('SMEMBERS', held)) do
      if not redis.call('ZSCORE', LEASES, member) then
        redis.call('SREM', held, member)
      end
    end
  end
  touched[user] = true
end
for user in pairs(touched) do
  settle(user)
end
return 0
