-- Fixed-window rate limit, atomic across API instances.
-- KEYS[1]: the counter of one limit and one subject
-- ARGV[1]: window length in milliseconds
-- Returns {hits in this window, milliseconds until the window ends}.
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- First hit of a window (or a counter that lost its expiry): start the window now.
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
