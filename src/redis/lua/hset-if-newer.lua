-- Set a hash field unless the stored value is as new or newer, atomically (documents per slot, logins per
-- terminal). Times live in a companion hash with the same fields.
--
-- KEYS[1]  the values (hash)   KEYS[2]  their times (hash)
-- ARGV[1]  field   ARGV[2]  time (a number)   ARGV[3]  value
--
-- Returns 1 when stored, 0 when the stored value is as new or newer.
local stored = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '')
if stored and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 and stored >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
