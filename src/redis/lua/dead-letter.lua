-- Move one pending stream entry to its dead-letter stream, atomically: acknowledge it in the group and,
-- if it was still pending there, append it to the dead-letter stream (its fields as published, its order
-- key `k`, then the annotations). The original entry stays in the stream (other groups may still need it);
-- it is only acknowledged for this group.
--
-- KEYS[1]  the stream
-- KEYS[2]  the dead-letter stream
-- ARGV[1]  group            ARGV[2]  entry ID         ARGV[3]  dead-letter MAXLEN (approximate)
-- ARGV[4]  reason           ARGV[5]  consumer         ARGV[6]  deliveries
-- ARGV[7…] the entry's fields: name, value, name, value…
--
-- Returns the dead-letter entry ID, or false when the entry was not pending (already acknowledged or moved).
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then
  return false
end
local fields = {}
for i = 7, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local extra = { 'reason', ARGV[4], 'from', KEYS[1], 'id', ARGV[2], 'group', ARGV[1], 'consumer', ARGV[5], 'deliveries', ARGV[6] }
for i = 1, #extra do
  fields[#fields + 1] = extra[i]
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
