-- Bind a connection's session record (replacing whatever that connection had, even for another user), and
-- index it under its user and its gateway, atomically.
--
-- KEYS[1]  the session (hash)   KEYS[2]  the user's sessions (set of '<gatewayId>/<connId>')
-- KEYS[3]  the gateway's sessions (set of connection IDs)   KEYS[4]  the known gateways (set)
-- ARGV[1]  '<gatewayId>/<connId>'   ARGV[2]  user-sessions key prefix (+ user = the key)
-- ARGV[3]  gatewayId   ARGV[4]  connId   ARGV[5]  user   ARGV[6]  active ('1'/'0')   ARGV[7]  since
-- ARGV[8]  terminal (only when given)
--
-- Returns 1.
local previous = redis.call('HGET', KEYS[1], 'user')
if previous and previous ~= ARGV[5] then
  redis.call('SREM', ARGV[2] .. previous, ARGV[1])
end
redis.call('DEL', KEYS[1])
if ARGV[8] then
  redis.call('HSET', KEYS[1], 'gatewayId', ARGV[3], 'connId', ARGV[4], 'user', ARGV[5], 'active', ARGV[6],
    'since', ARGV[7], 'terminal', ARGV[8])
else
  redis.call('HSET', KEYS[1], 'gatewayId', ARGV[3], 'connId', ARGV[4], 'user', ARGV[5], 'active', ARGV[6],
    'since', ARGV[7])
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[3])
return 1
