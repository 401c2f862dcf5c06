-- Take a user's pending items into a job's batch (idempotent per job: a retried or recovered job gets the
-- same batch back, with the devices already notified).
--
-- KEYS[1]  the user's pending list   KEYS[2]  the job's batch hash   KEYS[3]  the user's badge
-- KEYS[4]  the user's device list (read only: saves the worker a round trip)
-- ARGV[1]  batch TTL (ms)
--
-- Returns {devices, batch}: the device list (JSON string, or false), and the batch hash as a flat list
-- (HGETALL): `items` (JSON array of the item strings), `badge`, `settled:<device>` marks, `done`; an
-- empty list when there was nothing to take.
local devices = redis.call('GET', KEYS[4])
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {devices, redis.call('HGETALL', KEYS[2])}
end
local items = redis.call('LRANGE', KEYS[1], 0, -1)
if #items == 0 then
  return {devices, {}}
end
redis.call('DEL', KEYS[1])
local badge = redis.call('GET', KEYS[3]) or '0'
redis.call('HSET', KEYS[2], 'items', cjson.encode(items), 'badge', badge)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return {devices, redis.call('HGETALL', KEYS[2])}
