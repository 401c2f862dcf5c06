-- Store one inbox entry unless the user already has an entry with the same signature (dedup), atomically.
-- An entry is the signature's fields in the user's hashes: its cursor, its message text (as relayed), and
-- its terminal when it was addressed to `ID/terminal`; its cursor is a member of both index sorted sets.
-- With an expected sessions epoch (ARGV[8]), also tells whether the user's sessions epoch is another one:
-- a session was bound or became active after the caller read the sessions it routed the message on.
--
-- KEYS[1]  cursors (hash: signature → cursor)    KEYS[2]  messages (hash: signature → message text)
-- KEYS[3]  targets (hash: signature → terminal)  KEYS[4]  the inbox (sorted set, score 0: lexicographic order)
-- KEYS[5]  the inbox by store time (sorted set, score = storedAt: expiry)
-- KEYS[6]  the user's sessions epoch (string; see session-set-active.lua and the registry's bind)
-- ARGV[1]  signature   ARGV[2]  cursor   ARGV[3]  storedAt (ms)   ARGV[4]  message text
-- ARGV[5]  '1' when addressed to one terminal, else '0'   ARGV[6]  that terminal
-- ARGV[7]  retention (ms): a safety expiry for the keys, well past the logical expiry
-- ARGV[8]  (optional) the sessions epoch the caller read ('' for none)
--
-- Returns 1 when stored, 0 when an entry with this signature exists, plus 2 when the epoch differed.
local changed = 0
if ARGV[8] ~= nil and (redis.call('GET', KEYS[6]) or '') ~= ARGV[8] then
  changed = 2
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return changed
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
redis.call('ZADD', KEYS[4], 0, ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2])
for _, key in ipairs({ KEYS[1], KEYS[2], KEYS[4], KEYS[5] }) do
  redis.call('PEXPIRE', key, ARGV[7])
end
return 1 + changed
