-- Finish dropping a gateway: if its heartbeat is back (unless ARGV[1] is '1': a gateway starting under its
-- own name), nothing; if its session index is empty, delete its delivery stream — every message in it is
-- also in the inbox, and its entries name connections that are gone. A gateway starting under its own name
-- tails the stream from its end, so it reads none of them either; deleting the stream also removes a
-- consumer group an older version left on it.
--
-- KEYS[1]  the gateway's heartbeat   KEYS[2]  the gateway's sessions (hash)   KEYS[3]  its delivery stream
-- ARGV[1]  '1' = force
--
-- Returns 1 = done (the caller forgets the gateway), 0 = sessions left, -1 = the gateway is alive.
if ARGV[1] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
if redis.call('HLEN', KEYS[2]) > 0 then
  return 0
end
redis.call('DEL', KEYS[3])
return 1
