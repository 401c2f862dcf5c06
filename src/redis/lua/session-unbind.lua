-- Remove a connection's session record and its user and gateway index entries, atomically.
--
-- KEYS[1]  the session (hash)   KEYS[2]  the gateway's sessions (set of connection IDs)
-- ARGV[1]  '<gatewayId>/<connId>'   ARGV[2]  user-sessions key prefix (+ user = the key)   ARGV[3]  connId
--
-- Returns 1 when a session was removed, 0 when there was none.
local user = redis.call('HGET', KEYS[1], 'user')
redis.call('SREM', KEYS[2], ARGV[3])
if not user then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[2] .. user, ARGV[1])
return 1
