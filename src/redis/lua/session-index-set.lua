-- Point one of a gateway's connections at its user in the gateway's session index, returning what the
-- index said before (the caller then removes that bind's record from the previous user's sessions).
--
-- KEYS[1]  the gateway's sessions (hash: connId → '<bind token><user>')
-- ARGV[1]  connId   ARGV[2]  '<bind token><user>'
--
-- Returns the previous entry, or false when the connection had none.
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return previous
