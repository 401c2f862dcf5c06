-- Remove up to ARGV[2] inbox entries stored before ARGV[1] (ms, exclusive): their fields in the hashes
-- (delivered marks included) and their index members. The caller repeats while a full batch was removed.
--
-- KEYS[1]  the inbox (lex)   KEYS[2]  the inbox by store time   KEYS[3]  cursors   KEYS[4]  targets
-- KEYS[5]  delivered         KEYS[6]  messages
-- ARGV[1]  expired-before (ms)   ARGV[2]  batch size
--
-- Returns the number of index members removed.
local members = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(members) do
  -- member = cursor = <time>:<storedAt>:<signature>
  local first = string.find(member, ':', 1, true)
  local second = first and string.find(member, ':', first + 1, true)
  if second then
    local sig = string.sub(member, second + 1)
    -- only if this member is the entry's current cursor (a re-stored entry has a newer one)
    if redis.call('HGET', KEYS[3], sig) == member then
      for k = 3, 6 do
        redis.call('HDEL', KEYS[k], sig)
      end
    end
  end
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
return #members
