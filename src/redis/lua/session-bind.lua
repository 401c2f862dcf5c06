-- Write a user's session record and give the user's sessions a new epoch, together: an inbox put that still
-- sees the old epoch ran before the record existed, so the session's backlog drain (requested after the
-- bind) finds what it stored.
--
-- KEYS[1]  the user's sessions (hash: '<gatewayId>/<connId>' → '<active><bind token><record JSON>')
-- KEYS[2]  the user's sessions epoch (string)
-- ARGV[1]  '<gatewayId>/<connId>'   ARGV[2]  the record   ARGV[3]  the new epoch
-- ARGV[4]  the epoch's time to live (ms)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
