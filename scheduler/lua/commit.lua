-- Commits to sending the requests of claimed tasks: marks each task this instance still
-- owns as sent, so that an instance taking it over later knows the request may be out.
-- KEYS[1]: owners (task -> holding instance)
-- ARGV[1]: this instance, ARGV[2..]: task members
-- Returns the members committed; any other was taken over and must not be sent.
local me = ARGV[1]
local sent = me .. ':sent'
local out = {}
for i = 2, #ARGV do
  local member = ARGV[i]
  if redis.call('HGET', KEYS[1], member) == me then
    redis.call('HSET', KEYS[1], member, sent)
    out[#out + 1] = member
  end
end
return out
