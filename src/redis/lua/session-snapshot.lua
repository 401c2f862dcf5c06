-- Read a user's session records and their epoch in one atomic step (SessionRegistry.snapshotOf).
--
-- KEYS[1]  the user's sessions (hash)   KEYS[2]  the user's sessions epoch (string)
--
-- Returns { flat field/value list of the records, the epoch or false }.
return { redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[2]) }
