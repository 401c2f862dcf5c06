-- Remove session records of a user if each still belongs to the given bind (a record written by a later
-- bind of the same connection, e.g. a gateway restarted under its name, stays).
--
-- KEYS[1]  the user's sessions (hash: '<gatewayId>/<connId>' → '<active><bind token><record JSON>')
-- ARGV[1]  the bind token length
-- ARGV[2], ARGV[3] …  pairs of ('<gatewayId>/<connId>', bind token)
--
-- Returns the number of records removed.
local len = tonumber(ARGV[1])
local removed = 0
for i = 2, #ARGV - 1, 2 do
  local value = redis.call('HGET', KEYS[1], ARGV[i])
  if value and string.sub(value, 2, 1 + len) == ARGV[i + 1] then
    removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return removed
