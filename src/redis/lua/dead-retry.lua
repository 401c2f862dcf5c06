-- Re-drive one dead letter, atomically: append its payload (and order key) to the stream it came from as a
-- new entry, then delete it from the dead-letter stream. Both keys share a hash slot (`<stream>:dead`).
--
-- KEYS[1]  the dead-letter stream
-- KEYS[2]  the stream the entry came from (its `from` field)
-- ARGV[1]  dead-letter entry ID    ARGV[2]  MAXLEN of the stream (approximate)
--
-- Returns the new entry's ID, or false when the dead letter does not exist.
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then
  return false
end
local fields = found[1][2]
local payload = nil
local orderKey = nil
local from = nil
for i = 1, #fields, 2 do
  if fields[i] == 'p' then
    payload = fields[i + 1]
  elseif fields[i] == 'k' then
    orderKey = fields[i + 1]
  elseif fields[i] == 'from' then
    from = fields[i + 1]
  end
end
if payload == nil then
  return redis.error_reply('BAD_DEAD_LETTER dead letter ' .. ARGV[1] .. ' has no payload')
end
if from ~= KEYS[2] then
  return redis.error_reply('BAD_DEAD_LETTER dead letter ' .. ARGV[1] .. ' came from another stream')
end
local id
if orderKey ~= nil then
  id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'p', payload, 'k', orderKey)
else
  id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'p', payload)
end
redis.call('XDEL', KEYS[1], ARGV[1])
return id
