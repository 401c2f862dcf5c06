-- Note a message for a user's next push notification (coalescing window), once per message.
--
-- KEYS[1]  push seen marker of this message   KEYS[2]  the user's pending list   KEYS[3]  the user's badge
-- ARGV[1]  the pending item (JSON)   ARGV[2]  seen-marker TTL (ms)   ARGV[3]  pending/badge TTL (ms)
--
-- Returns {fresh, length, first}: fresh = 1 when the message was new (appended, badge incremented), 0 for a
-- repeat; length = the pending list's length; first = its first item (whose job holds the window), or
-- false when the list is empty.
local fresh = 0
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then
  fresh = 1
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
local length = redis.call('LLEN', KEYS[2])
local first = redis.call('LINDEX', KEYS[2], 0)
return {fresh, length, first}
