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

local function lease(member, prefix, at)
  redis.call('ZADD', LEASES, deadline, member)
  redis.call('HSET', OWNERS, member, me)
  out[#out + 1] = prefix .. member
  out[#out + 1] = at
end

-- A task whose holder's lease expired (it stays in its user's held set): whether its
-- request may be out decides whether the taker fires it or closes it as abandoned.
local function take_back(member)
  local owner = redis.call('HGET', OWNERS, member)
  -- No owner recorded: assume the worst (the request may have gone out).
  local unsent = owner and string.sub(owner, -5) ~= ':sent'
  lease(member, unsent and 'u' or 'x', tostring(now))
  room = room - 1
end

local function take(member, at, held)
  lease(member, 'n', at)
  redis.call('SADD', held, member)
  room = room - 1
end

local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, room)
for _, member in ipairs(expired) do
  take_back(member)
end

-- Users with work due by the horizon, earliest first, each served a share of the room
-- per round, as long as there is room and they have work and headroom.
local users = redis.call('ZRANGEBYSCORE', READY, '-inf', horizon, 'LIMIT', 0, math.max(room, 0))
while room > 0 and #users > 0 do
  local share = math.max(1, math.floor(room / #users))
  local again = {}
  for _, user in ipairs(users) do
    if room > 0 then
      local work, held = work_key(user), held_key(user)
      local want = math.min(share, room, limit_of(user) - redis.call('SCARD', held))
      if want > 0 then
        local items = redis.call('ZRANGEBYSCORE', work, '-inf', horizon, 'WITHSCORES', 'LIMIT', 0, want)
        for i = 1, #items, 2 do
          local entry, at = items[i], items[i + 1]
          redis.call('ZREM', work, entry)
          if string.find(entry, ':', 1, true) then
            take(entry, at, held) -- a queued retry or manual run
          else
            local member = 's:' .. user .. ':' .. entry .. ':' .. at
            local lease_until = redis.call('ZSCORE', LEASES, member)
            -- A slot someone holds (put back by the reconciler between that claim and
            -- the holder's put-back) is dropped: its holder fires it and schedules the
            -- next one.
            if not lease_until then
              take(member, at, held)
            elseif tonumber(lease_until) <= now then
              take_back(member)
            end
          end
        end
        if #items == 2 * want then
          again[#again + 1] = user -- it may have more due
        end
      end
      settle(user)
    end
  end
  users = again
end

return out
