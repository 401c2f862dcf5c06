-- Delete a string key only if it still holds the expected value (push device lists emptied by a removal).
--
-- KEYS[1]  the key   ARGV[1]  the expected value
--
-- Returns 1 when deleted, 0 when the stored value differs (or is missing).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
