-- Remove up to ARGV[2] inbox entries stored before ARGV[1] (ms, exclusive), with their index members and
-- delivered marks. The caller repeats while a full batch was removed.
--
-- KEYS[1]  the inbox (lex)   KEYS[2]  the inbox by store time   KEYS[3]  marked terminals
-- ARGV[1]  expired-before (ms)   ARGV[2]  batch size   ARGV[3]  entry key prefix (+ signature = the key)
-- ARGV[4]  delivered-set key prefix (+ terminal = the key)
--
-- Returns the number of entries removed.
local members = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
if #members == 0 then
  return 0
end
local marked = redis.call('SMEMBERS', KEYS[3])
for _, member in ipairs(members) do
  -- member = cursor = <time>:<storedAt>:<signature>
  local first = string.find(member, ':', 1, true)
  local second = first and string.find(member, ':', first + 1, true)
  if second then
    local sig = string.sub(member, second + 1)
    local entryKey = ARGV[3] .. sig
    local raw = redis.call('GET', entryKey)
    local ok, entry = pcall(cjson.decode, raw or 'null')
    -- Only delete the entry if this member is its current one (a re-stored entry has a newer member).
    if raw and (not ok or type(entry) ~= 'table' or entry.cursor == member) then
      redis.call('DEL', entryKey)
      for _, terminal in ipairs(marked) do
        redis.call('SREM', ARGV[4] .. terminal, sig)
      end
    end
  end
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
for _, terminal in ipairs(marked) do
  if redis.call('EXISTS', ARGV[4] .. terminal) == 0 then
    redis.call('SREM', KEYS[3], terminal)
  end
end
return #members
