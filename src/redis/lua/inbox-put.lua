-- Store one inbox entry unless the user already has an entry with the same signature (dedup), atomically.
--
-- KEYS[1]  the entry (string: JSON {cursor, time, storedAt, terminal?, json})
-- KEYS[2]  the user's inbox (sorted set, score 0, member = cursor: lexicographic backlog order)
-- KEYS[3]  the user's inbox by store time (sorted set, score = storedAt, member = cursor: expiry)
-- ARGV[1]  cursor   ARGV[2]  storedAt   ARGV[3]  the entry JSON
-- ARGV[4]  retention (ms): a safety expiry for the keys, well past the logical expiry
--
-- Returns 1 when stored, 0 when an entry with this signature exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
