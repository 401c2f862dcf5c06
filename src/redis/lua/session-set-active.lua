-- Set whether a session wants messages pushed, if the session (that bind) exists: never creates a partial
-- record. A session becoming active gives the user's sessions a new epoch (a backlog drain follows).
--
-- KEYS[1]  the user's sessions (hash: '<gatewayId>/<connId>' → '<active><bind token><record JSON>')
-- KEYS[2]  the user's sessions epoch (string)
-- ARGV[1]  '<gatewayId>/<connId>'   ARGV[2]  '1' or '0'   ARGV[3]  bind token
-- ARGV[4]  the new epoch   ARGV[5]  the epoch's time to live (ms)
--
-- Returns 1 when updated, 0 when there is no such session.
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value or string.sub(value, 2, 1 + string.len(ARGV[3])) ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(value, 2))
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
end
return 1
