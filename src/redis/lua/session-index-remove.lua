-- Remove gateway session index entries if each still is the given one (a connection bound again meanwhile
-- keeps its new entry).
--
-- KEYS[1]  the gateway's sessions (hash: connId → '<bind token><user>')
-- ARGV[1], ARGV[2] …  pairs of (connId, the entry expected)
--
-- Returns the number of entries removed.
local removed = 0
for i = 1, #ARGV - 1, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return removed
