-- Re-drive one dead letter, atomically: append its fields as published (and its order key `k`) to the
-- stream it came from as a new entry, without the dead-letter annotations, then delete it from the
-- dead-letter stream. Both keys share a hash slot (`<stream>:dead` keeps the stream's hash tag).
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
local annotations = { reason = true, from = true, id = true, group = true, consumer = true, deliveries = true }
local fields = found[1][2]
local copy = {}
local from = nil
for i = 1, #fields, 2 do
  if fields[i] == 'from' then
    from = fields[i + 1]
  end
  if not annotations[fields[i]] then
    copy[#copy + 1] = fields[i]
    copy[#copy + 1] = fields[i + 1]
  end
end
if from ~= KEYS[2] then
  return redis.error_reply('BAD_DEAD_LETTER dead letter ' .. ARGV[1] .. ' came from another stream')
end
if #copy == 0 then
  return redis.error_reply('BAD_DEAD_LETTER dead letter ' .. ARGV[1] .. ' has no fields')
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(copy))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
