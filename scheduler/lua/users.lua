-- Shared head of the scripts that touch users' work (prepended to each by queue.rs).
--
-- Each user has one sorted set of work, {p}:work:<user>: its jobs' next fire times (the
-- member is the job id) and its queued retries and manual runs (the member is the task).
-- {p}:ready orders users by their earliest entry. A user's concurrency is the set of its
-- leases that are due or sent, {p}:held:<user>; leases claimed ahead of their time wait
-- in the sorted set {p}:ahead:<user>, by time, until their request goes out (commit.lua
-- moves them, and only while held is below the limit: otherwise they wait there). Work
-- due now is claimed while held and the ahead leases whose time has come are below the
-- user's plan limit; work ahead only while held and all ahead leases are: a user's own
-- schedule, prepared ahead, never throttles its work due now, and no more than the limit
-- of its requests are ever out. A user at its limit is moved to
-- the set {p}:blocked instead of ready, and back when one of its leases is released: a
-- claim so never looks at a blocked user's backlog, and takes users' work in turns.
--
-- ARGV[1]: the key prefix ('{p}:'), ARGV[2..4]: the concurrency limits of FREE, PREMIUM
-- and PRO as the caller knows them. The limits in force are those the schedulers claim
-- with (claim.lua stores them); other callers use the stored ones when there are any. A
-- user whose plan is not recorded here yet gets FREE's.
local PREFIX = ARGV[1]
local LIMITS = { FREE = tonumber(ARGV[2]), PREMIUM = tonumber(ARGV[3]), PRO = tonumber(ARGV[4]) }
local LIMITS_KEY = PREFIX .. 'limits'
local READY = PREFIX .. 'ready'
local BLOCKED = PREFIX .. 'blocked'
local PLANS = PREFIX .. 'plans'
local LEASES = PREFIX .. 'leases'
local OWNERS = PREFIX .. 'owners'

local function work_key(user) return PREFIX .. 'work:' .. user end
local function held_key(user) return PREFIX .. 'held:' .. user end
local function ahead_key(user) return PREFIX .. 'ahead:' .. user end

-- The user of a task member ('s:<user>:...', 'r:<user>:...', 'm:<user>:...'): a UUID,
-- 36 characters from the third on (a substring, not a pattern: this runs per lease).
local function user_of(member)
  if string.sub(member, 2, 2) == ':' and string.sub(member, 39, 39) == ':' then
    return string.sub(member, 3, 38)
  end
end

-- Runs a variadic command (ZADD, ZREM, SADD, SREM, HSET, HDEL) over a flat list of
-- arguments in chunks, one call per chunk rather than per item (each call has a cost of
-- its own; Lua unpacks at most a few thousand values at once). `flag` (NX) may be nil.
local function chunked(command, key, flag, items)
  local step = 2000 -- even, so pairs stay whole
  for i = 1, #items, step do
    local last = math.min(i + step - 1, #items)
    if flag then
      redis.call(command, key, flag, unpack(items, i, last))
    else
      redis.call(command, key, unpack(items, i, last))
    end
  end
end

-- Appends one value, or a pair, to the list kept under `name` in `lists` (a list per
-- key, say). Two plain arguments rather than varargs: this runs per item, and varargs
-- would build a table per call.
local function push(lists, name, a, b)
  local list = lists[name]
  if not list then
    list = {}
    lists[name] = list
  end
  list[#list + 1] = a
  if b ~= nil then
    list[#list + 1] = b
  end
end

local function limit_of(user)
  local plan = redis.call('HGET', PLANS, user)
  return (plan and LIMITS[plan]) or LIMITS.FREE
end

-- Makes the caller's limits the ones in force (schedulers, at every claim).
local function store_limits()
  redis.call('HSET', LIMITS_KEY, 'FREE', LIMITS.FREE, 'PREMIUM', LIMITS.PREMIUM, 'PRO', LIMITS.PRO)
end

-- Uses the limits in force, where a scheduler has stored them.
local function use_stored_limits()
  local stored = redis.call('HMGET', LIMITS_KEY, 'FREE', 'PREMIUM', 'PRO')
  LIMITS = {
    FREE = tonumber(stored[1]) or LIMITS.FREE,
    PREMIUM = tonumber(stored[2]) or LIMITS.PREMIUM,
    PRO = tonumber(stored[3]) or LIMITS.PRO,
  }
end

-- Keeps in `earliest` (a table by user) the earliest time of the work added for each user.
local function note_earliest(earliest, user, at)
  if not earliest[user] or at < earliest[user] then
    earliest[user] = at
  end
end

-- Work added never lowers a user's count: a user not blocked is ready at the earlier of its
-- place and its earliest new entry (one look per user, no full settle).
local function offer(earliest)
  for user, at in pairs(earliest) do
    if redis.call('SISMEMBER', BLOCKED, user) == 0 then
      redis.call('ZADD', READY, 'LT', at, user)
    end
  end
end

-- Puts a user where its work and holdings say: nowhere without work, blocked at its
-- limit, otherwise in ready at its earliest entry.
local function settle(user)
  local first = redis.call('ZRANGE', work_key(user), 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', READY, user)
    redis.call('SREM', BLOCKED, user)
  elseif redis.call('SCARD', held_key(user)) >= limit_of(user) then
    redis.call('ZREM', READY, user)
    redis.call('SADD', BLOCKED, user)
  else
    redis.call('SREM', BLOCKED, user)
    redis.call('ZADD', READY, first[2], user)
  end
end
