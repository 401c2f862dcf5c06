-- Move one pending stream entry to its dead-letter stream, atomically: acknowledge it in the group and,
-- if it was still pending there, append it to the dead-letter stream. The original entry stays in the
-- stream (other groups may still need it); it is only acknowledged for this group.
--
-- KEYS[1]  the stream
-- KEYS[2]  the dead-letter stream
-- ARGV[1]  group            ARGV[2]  entry ID         ARGV[3]  dead-letter MAXLEN (approximate)
-- ARGV[4]  payload (p)      ARGV[5]  '1' when an order key is given, else '0'
-- ARGV[6]  order key (k)    ARGV[7]  reason           ARGV[8]  consumer      ARGV[9]  deliveries
--
-- Returns the dead-letter entry ID, or false when the entry was not pending (already acknowledged or moved).
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then
  return false
end
local fields = { 'p', ARGV[4] }
if ARGV[5] == '1' then
  fields[#fields + 1] = 'k'
  fields[#fields + 1] = ARGV[6]
end
local extra = { 'reason', ARGV[7], 'from', KEYS[1], 'id', ARGV[2], 'group', ARGV[1], 'consumer', ARGV[8], 'deliveries', ARGV[9] }
for i = 1, #extra do
  fields[#fields + 1] = extra[i]
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
