-- Commits to sending the requests of claimed tasks: marks each task this instance still
-- owns as sent, so that an instance taking it over later knows the request may be out,
-- and counts a task claimed ahead in its user's concurrency from now on.
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: this instance, ARGV[6..]: task members
-- Returns {members committed, members that must wait}. A task claimed ahead goes only
-- while its user has fewer than its limit out: work that fell due meanwhile may have
-- taken the room (what is prepared ahead never holds back what is due), and then it
-- waits, still claimed ahead (so counted by claims as due: it goes before any new work of
-- its user), for a run to end. Any other member was taken over and must not be sent.
--
-- This runs at the instant the requests wait for, so it reads and writes in a few calls
-- per user, never per member.
use_stored_limits()
local me = ARGV[5]
local sent = me .. ':sent'
local out, waiting, by_user, owners = {}, {}, {}, {}

local function commit(member)
  out[#out + 1] = member
  owners[#owners + 1] = member
  owners[#owners + 1] = sent
end

local members = { unpack(ARGV, 6) }
if #members == 0 then
  return { out, waiting }
end
local holders = redis.call('HMGET', OWNERS, unpack(members))
for i, member in ipairs(members) do
  if holders[i] == me then
    local user = user_of(member)
    if user then
      push(by_user, user, member)
    else
      commit(member)
    end
  end
end
for user, owned in pairs(by_user) do
  local ahead = ahead_key(user)
  local scores = redis.call('ZMSCORE', ahead, unpack(owned))
  local count, limit
  local moved = {}
  for i, member in ipairs(owned) do
    if scores[i] then
      count = count or redis.call('SCARD', held_key(user))
      limit = limit or limit_of(user)
      if count < limit then
        count = count + 1
        moved[#moved + 1] = member
        commit(member)
      else
        waiting[#waiting + 1] = member
      end
    else
      commit(member) -- claimed due: counted already
    end
  end
  chunked('ZREM', ahead, nil, moved)
  chunked('SADD', held_key(user), nil, moved)
end
chunked('HSET', OWNERS, nil, owners)
return { out, waiting }
