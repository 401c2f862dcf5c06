-- Reserve a place in a neighbour's queue for one message (federation-store.ts `reserve`).
-- KEYS[1] = the neighbour's queued set (sorted set: member -> queued at, ms)
-- ARGV[1] = member (`<receiver> <signature>`), ARGV[2] = now (ms), ARGV[3] = limit,
-- ARGV[4] = stale age (ms): reservations older than this are forgotten (a crash between reserve and queue)
-- Returns 1 reserved, 0 already queued (duplicate), -1 queue full.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[4]))
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
