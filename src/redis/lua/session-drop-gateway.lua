-- Remove up to ARGV[4] session records of a gateway whose heartbeat has expired, with their user index
-- entries; forget the gateway once it has none left. Does nothing if the heartbeat is back (checked
-- atomically with the removal), unless ARGV[5] is '1' (a gateway starting under its own name: whatever is
-- recorded under it belongs to a dead process). The caller repeats until done.
--
-- KEYS[1]  the gateway's heartbeat   KEYS[2]  the gateway's sessions (set of connection IDs)
-- KEYS[3]  the known gateways (set)   KEYS[4]  the gateway's delivery stream (deleted with a dead gateway:
--          every message in it is also in the inbox, and nobody will ever consume it)
-- ARGV[1]  gatewayId   ARGV[2]  session key prefix of this gateway (+ connId = the key)
-- ARGV[3]  user-sessions key prefix (+ user = the key)   ARGV[4]  batch size   ARGV[5]  '1' = force
--
-- Returns { sessions removed, state }: state 1 = done (gateway forgotten), 0 = more to remove,
-- -1 = the gateway is alive (nothing removed).
if ARGV[5] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return { 0, -1 }
end
local removed = 0
local conns = redis.call('SPOP', KEYS[2], ARGV[4])
for _, conn in ipairs(conns) do
  local key = ARGV[2] .. conn
  local user = redis.call('HGET', key, 'user')
  if user then
    redis.call('DEL', key)
    redis.call('SREM', ARGV[3] .. user, ARGV[1] .. '/' .. conn)
    removed = removed + 1
  end
end
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  if ARGV[5] ~= '1' then redis.call('DEL', KEYS[4]) end
  return { removed, 1 }
end
return { removed, 0 }
