-- Take or keep ownership of a neighbour link (federation-store.ts `ownLink`).
-- KEYS[1] = the link's owner key; ARGV[1] = owner name, ARGV[2] = TTL (ms)
-- Returns 1 when ARGV[1] owns it now (taken or renewed), 0 when another owner holds it.
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
