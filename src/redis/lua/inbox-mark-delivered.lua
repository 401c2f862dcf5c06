-- Record that a terminal has an inbox entry and delete the entry once every terminal that wants it has it:
-- the entry's own terminal when it was addressed to `ID/terminal`, else every known terminal of the user
-- plus the acknowledging one. Deleting removes the entry, its two index members and its delivered marks.
--
-- KEYS[1]  the entry            KEYS[2]  the inbox (lex)      KEYS[3]  the inbox by store time
-- KEYS[4]  known terminals      KEYS[5]  marked terminals     KEYS[6]  delivered set of ARGV[1]
-- ARGV[1]  terminal   ARGV[2]  signature   ARGV[3]  delivered-set key prefix (+ terminal = the key)
-- ARGV[4]  retention (ms)
--
-- Returns 0 when there is no such entry, 1 when marked, 2 when marked and deleted.
local raw = redis.call('GET', KEYS[1])
if not raw then
  return 0
end
local ok, entry = pcall(cjson.decode, raw)
if not ok or type(entry) ~= 'table' then
  return 0
end
local sig = ARGV[2]
redis.call('SADD', KEYS[6], sig)
redis.call('PEXPIRE', KEYS[6], ARGV[4])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('PEXPIRE', KEYS[5], ARGV[4])

local wanted
if type(entry.terminal) == 'string' then
  wanted = { entry.terminal }
else
  wanted = redis.call('SMEMBERS', KEYS[4])
end
for _, terminal in ipairs(wanted) do
  if terminal ~= ARGV[1] and redis.call('SISMEMBER', ARGV[3] .. terminal, sig) == 0 then
    return 1
  end
end

redis.call('DEL', KEYS[1])
if type(entry.cursor) == 'string' then
  redis.call('ZREM', KEYS[2], entry.cursor)
  redis.call('ZREM', KEYS[3], entry.cursor)
end
for _, terminal in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local key = ARGV[3] .. terminal
  redis.call('SREM', key, sig)
  if redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[5], terminal)
  end
end
return 2
