-- How much work is due and waiting, and since when: what an operator watches to see a
-- stalled scheduler (or users held back at their limits).
-- KEYS[1]: {p}:ready (names the slot of the call). ARGV[1..4]: see users.lua.
-- ARGV[5]: now (ms). Returns {entries due, the oldest due time (ms) or -1}.
local now = tonumber(ARGV[5])
local depth, oldest = 0, -1
local function count(user)
  local work = work_key(user)
  local due = redis.call('ZCOUNT', work, '-inf', now)
  if due > 0 then
    depth = depth + due
    local first = tonumber(redis.call('ZRANGE', work, 0, 0, 'WITHSCORES')[2])
    if oldest < 0 or first < oldest then
      oldest = first
    end
  end
end
for _, user in ipairs(redis.call('ZRANGEBYSCORE', READY, '-inf', now)) do
  count(user)
end
for _, user in ipairs(redis.call('SMEMBERS', BLOCKED)) do
  count(user)
end
return { depth, oldest }
