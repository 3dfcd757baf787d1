-- AegisAPI token bucket: the whole decision in one atomic script.
--
-- The same arithmetic as src/token_bucket.cpp (take_token): a bucket is stored
-- as one integer, the microsecond at which it is full again ("full_at"), kept
-- in a plain string key that expires exactly when the bucket is full (a full
-- bucket is the same as a missing one).
--
-- KEYS[1]  the bucket key (prefix .. user)
-- ARGV[1]  capacity: most tokens in the bucket (integer >= 1)
-- ARGV[2]  interval: microseconds to gain one token (integer >= 1)
-- ARGV[3]  optional, tests only: "now" in microseconds. Production calls omit
--          it, so time comes from Redis itself (TIME) and clock skew between
--          instances can never over-admit.
--
-- Reply: an array of four integers
--   1  allowed: 1 if a token was taken, else 0
--   2  remaining: whole tokens left
--   3  retry_after: microseconds until the next token (0 when full)
--   4  reset_after: microseconds until the bucket is full again
--
-- All values stay below 2^53, so Lua's doubles hold them exactly; the integer
-- division uses math.fmod, which is exact, instead of a rounded a / b.

local capacity = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local window = capacity * interval

local full_at = tonumber(redis.call('GET', KEYS[1])) or now
local debt = full_at - now
if debt < 0 then
  debt = 0
elseif debt > window then
  -- The clock went backwards: deny at most one refill, never admit more.
  debt = window
end

local allowed = 0
if debt + interval <= window then
  allowed = 1
  debt = debt + interval
  -- '%.0f' because redis.call would turn a large number into "1.7e+15".
  redis.call('SET', KEYS[1], string.format('%.0f', now + debt),
             'PX', string.format('%.0f', math.ceil(debt / 1000)))
end

local rem = math.fmod(debt, interval)
local missing = (debt - rem) / interval
if rem > 0 then
  missing = missing + 1
end
local retry_after = 0
if debt > 0 then
  retry_after = debt - (missing - 1) * interval
end
return {allowed, capacity - missing, retry_after, debt}
