-- Drop user index entries whose session record is gone or now belongs to another user — checked atomically,
-- so an entry re-bound meanwhile is kept.
--
-- KEYS[1]  the user's sessions (set of '<gatewayId>/<connId>')
-- ARGV[1]  the user
-- ARGV[2], ARGV[3] …  pairs of (index entry, its session key, or '' for an entry that names none)
--
-- Returns the number of entries removed.
local removed = 0
for i = 2, #ARGV - 1, 2 do
  local member, key = ARGV[i], ARGV[i + 1]
  if key == '' or redis.call('HGET', key, 'user') ~= ARGV[1] then
    removed = removed + redis.call('SREM', KEYS[1], member)
  end
end
return removed
