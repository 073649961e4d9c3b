-- Claims due work atomically, fairly between users, and leases it to the caller.
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: now (ms), ARGV[6]: lease length (ms), ARGV[7]: most items to take,
-- ARGV[8]: horizon (ms): work due up to this time is taken, so the caller can prepare it
-- ahead and fire it on time. ARGV[9]: the claiming instance.
-- Returns pairs: the task member prefixed with 'n' (new), 'x' (taken back from an expired
-- lease whose holder died after it may have sent the request) or 'u' (taken back, and the
-- holder had not sent it), then the time it is due (ms). A due job leaves its user's work;
-- its holder puts the next fire time back.
local now = tonumber(ARGV[5])
local deadline = now + tonumber(ARGV[6])
local room = tonumber(ARGV[7])
local horizon = tonumber(ARGV[8])
local me = ARGV[9]
store_limits()
local out = {}
-- Writes gathered and made at the end, a few calls in all rather than several per item.
local leases, owners, held, ahead = {}, {}, {}, {}

local function lease(member, prefix, at)
  leases[#leases + 1] = deadline
  leases[#leases + 1] = member
  owners[#owners + 1] = member
  owners[#owners + 1] = me
  out[#out + 1] = prefix .. member
  out[#out + 1] = at
  room = room - 1
end

-- A task whose holder's lease expired (it stays in its user's held set): whether its
-- request may be out decides whether the taker fires it or closes it as abandoned.
local function take_back(member)
  local owner = redis.call('HGET', OWNERS, member)
  -- No owner recorded: assume the worst (the request may have gone out).
  local unsent = owner and string.sub(owner, -5) ~= ':sent'
  lease(member, unsent and 'u' or 'x', tostring(now))
end

local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, room)
for _, member in ipairs(expired) do
  take_back(member)
end

-- Users with work due by the horizon, earliest first, each served a share of the room
-- per round, as long as there is room and they have work and headroom. At least 64 users
-- at a time (all of them when the room is small), and up to a share of 16 items each: a
-- burst of many users' work then costs a claim fewer users to look at, and those left
-- are first in the next claim.
local per_fetch = math.max(math.min(room, 64), math.floor(room / 16))
local offset = 0
-- Per user served: its limit, its leases due or sent, those claimed ahead whose time has
-- come (being sent now), and all claimed ahead.
local limit, count, early_due, early, served = {}, {}, {}, {}, {}
while room > 0 do
  local users = redis.call('ZRANGEBYSCORE', READY, '-inf', horizon, 'LIMIT', offset, per_fetch)
  if #users == 0 then
    break
  end
  offset = offset + #users
  while room > 0 and #users > 0 do
    local share = math.max(1, math.floor(room / #users))
    local again = {}
    for _, user in ipairs(users) do
      if room > 0 then
        local work = work_key(user)
        if not limit[user] then
          limit[user] = limit_of(user)
          count[user] = redis.call('SCARD', held_key(user))
          early_due[user] = redis.call('ZCOUNT', ahead_key(user), '-inf', now)
          early[user] = redis.call('ZCARD', ahead_key(user))
          served[#served + 1] = user
        end
        local want = math.min(share, room)
        -- Due now while below the limit; then ahead while due and ahead are.
        local due_room = math.min(want, limit[user] - count[user] - early_due[user])
        local items = {}
        if due_room > 0 then
          items = redis.call('ZRANGEBYSCORE', work, '-inf', now, 'WITHSCORES', 'LIMIT', 0, due_room)
        end
        local ahead_room = math.min(want - #items / 2, limit[user] - count[user] - early[user] - #items / 2)
        if ahead_room > 0 and horizon > now then
          local later = redis.call('ZRANGEBYSCORE', work, '(' .. now, horizon, 'WITHSCORES', 'LIMIT', 0, ahead_room)
          for _, value in ipairs(later) do
            items[#items + 1] = value
          end
        end
        local taken, members = {}, {}
        for i = 1, #items, 2 do
          local entry = items[i]
          taken[#taken + 1] = entry
          if string.find(entry, ':', 1, true) then
            members[#members + 1] = entry
          else
            members[#members + 1] = 's:' .. user .. ':' .. entry .. ':' .. items[i + 1]
          end
        end
        -- A slot someone holds (put back by the reconciler between that claim and the
        -- holder's put-back) is dropped: its holder fires it and schedules the next one.
        -- One whose holder died is taken back (it counts already). Looked up at once.
        local leased = {}
        if #members > 0 then
          leased = redis.call('ZMSCORE', LEASES, unpack(members))
        end
        for n, member in ipairs(members) do
          local entry, at = taken[n], items[2 * n]
          local is_ahead = tonumber(at) > now
          local lease_until = member ~= entry and leased[n]
          if not lease_until then
            lease(member, 'n', at)
            if is_ahead then
              push(ahead, user, at, member)
              early[user] = early[user] + 1
            else
              push(held, user, member)
              count[user] = count[user] + 1
            end
          elseif tonumber(lease_until) <= now then
            take_back(member)
          end
        end
        chunked('ZREM', work, nil, taken)
        if #taken == want then
          again[#again + 1] = user -- it may have more due
        end
      end
    end
    users = again
  end
end

chunked('ZADD', LEASES, nil, leases)
chunked('HSET', OWNERS, nil, owners)
for user, members in pairs(held) do
  chunked('SADD', held_key(user), nil, members)
end
for user, members in pairs(ahead) do
  chunked('ZADD', ahead_key(user), nil, members)
end
-- Where each user served now stands (settle, with what is known here). A user with
-- work due and no room for it is blocked until one of its runs ends (release.lua), so
-- that claims do not look at it again for nothing. One with only work ahead and no room
-- to claim it stays at its first entry: its room may come back with any run ending, and
-- its work must be looked at once due (claim.rs paces claims that take nothing).
for _, user in ipairs(served) do
  local first = redis.call('ZRANGE', work_key(user), 0, 0, 'WITHSCORES')
  local at = first[2] and tonumber(first[2])
  if not at then
    redis.call('ZREM', READY, user)
  elseif count[user] >= limit[user]
    or (at <= now and count[user] + early_due[user] >= limit[user]) then
    redis.call('ZREM', READY, user)
    redis.call('SADD', BLOCKED, user)
  else
    redis.call('ZADD', READY, at, user)
  end
end

return out
