-- Claims due work atomically and leases it to the caller.
-- KEYS[1]: due set (job id -> next fire ms)
-- KEYS[2]: work queue (retry and manual tasks -> run-at ms)
-- KEYS[3]: leases (task -> lease deadline ms)
-- KEYS[4]: owners (task -> holding instance, with ':sent' once its request may be out)
-- ARGV[1]: now (ms), ARGV[2]: lease length (ms), ARGV[3]: most items to take,
-- ARGV[4]: horizon (ms): due and queued work up to this time is taken, so the caller can
-- prepare it ahead and fire it on time. ARGV[5]: the claiming instance.
-- Returns pairs: the task member prefixed with 'n' (new), 'x' (taken back from an expired
-- lease whose holder died after it may have sent the request) or 'u' (taken back, and the
-- holder had not sent it), then the time it is due (ms). A due job leaves the
-- due set; its holder puts the next fire time back.
local now = tonumber(ARGV[1])
local deadline = now + tonumber(ARGV[2])
local room = tonumber(ARGV[3])
local horizon = tonumber(ARGV[4])
local me = ARGV[5]
local out = {}

local function lease(member, prefix, at)
  redis.call('ZADD', KEYS[3], deadline, member)
  redis.call('HSET', KEYS[4], member, me)
  out[#out + 1] = prefix .. member
  out[#out + 1] = at
end

-- A task whose holder's lease expired: whether its request may be out decides whether
-- the taker fires it or closes it as abandoned.
local function take_back(member)
  local owner = redis.call('HGET', KEYS[4], member)
  -- No owner recorded: assume the worst (the request may have gone out).
  local unsent = owner and string.sub(owner, -5) ~= ':sent'
  lease(member, unsent and 'u' or 'x', tostring(now))
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, room)
for _, member in ipairs(expired) do
  take_back(member)
end
room = room - #expired

if room > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', horizon, 'WITHSCORES', 'LIMIT', 0, room)
  for i = 1, #due, 2 do
    redis.call('ZREM', KEYS[1], due[i])
    local member = 's:' .. due[i] .. ':' .. due[i + 1]
    local held = redis.call('ZSCORE', KEYS[3], member)
    -- A slot someone holds (put back by the reconciler between that claim and the
    -- holder's put-back) is dropped: its holder fires it and schedules the next one.
    if not held then
      lease(member, 'n', due[i + 1])
      room = room - 1
    elseif tonumber(held) <= now then
      take_back(member)
      room = room - 1
    end
  end
end

if room > 0 then
  local queued = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', horizon, 'WITHSCORES', 'LIMIT', 0, room)
  for i = 1, #queued, 2 do
    redis.call('ZREM', KEYS[2], queued[i])
    lease(queued[i], 'n', queued[i + 1])
  end
end

return out
