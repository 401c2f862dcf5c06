-- Set whether a session wants messages pushed, if the session exists (never creates a partial record).
--
-- KEYS[1]  the session (hash)   ARGV[1]  '1' or '0'
--
-- Returns 1 when updated, 0 when there is no such session.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'active', ARGV[1])
return 1
