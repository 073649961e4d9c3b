-- Commits to sending the requests of claimed tasks: marks each task this instance still
-- owns as sent, so that an instance taking it over later knows the request may be out,
-- and counts a task claimed ahead in its user's concurrency from now on.
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: this instance, ARGV[6..]: task members
-- Returns the members committed; any other was taken over and must not be sent.
local me = ARGV[5]
local sent = me .. ':sent'
local out = {}
for i = 6, #ARGV do
  local member = ARGV[i]
  if redis.call('HGET', OWNERS, member) == me then
    redis.call('HSET', OWNERS, member, sent)
    out[#out + 1] = member
    local user = user_of(member)
    if user and redis.call('ZREM', ahead_key(user), member) == 1 then
      redis.call('SADD', held_key(user), member)
    end
  end
end
return out
