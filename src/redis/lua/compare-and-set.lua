-- Replace a string value only if it still is the expected one (a corrupt stored meta is replaced by a valid
-- one, and never a valid one).
--
-- KEYS[1]  the key   ARGV[1]  the expected value   ARGV[2]  the new value
--
-- Returns 1 when replaced, 0 when the stored value differs (or is missing).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
