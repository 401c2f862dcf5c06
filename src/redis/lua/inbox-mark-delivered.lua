-- Record that a terminal has a batch of inbox entries (one call per batch of client acknowledgements) and
-- delete each entry once every terminal that wants it has it: the entry's own terminal when it was
-- addressed to `ID/terminal`, else every known terminal of the user plus the acknowledging one. Deleting
-- removes the entry, its two index members and its delivered marks. Signatures without an entry are skipped.
--
-- KEYS[1]  the inbox (lex)      KEYS[2]  the inbox by store time   KEYS[3]  known terminals
-- KEYS[4]  marked terminals     KEYS[5]  delivered set of ARGV[1]
-- ARGV[1]  terminal   ARGV[2]  entry key prefix (+ signature = the key)
-- ARGV[3]  delivered-set key prefix (+ terminal = the key)   ARGV[4]  retention (ms)
-- ARGV[5…] signatures
--
-- Returns { entries marked, entries deleted }.
local terminal = ARGV[1]
local known = nil
local markedTerminals = nil
local marked = 0
local deleted = 0
for i = 5, #ARGV do
  local sig = ARGV[i]
  local entryKey = ARGV[2] .. sig
  local raw = redis.call('GET', entryKey)
  local ok, entry = false, nil
  if raw then
    ok, entry = pcall(cjson.decode, raw)
  end
  if ok and type(entry) == 'table' then
    if marked == 0 then
      redis.call('SADD', KEYS[4], terminal)
      redis.call('PEXPIRE', KEYS[4], ARGV[4])
      markedTerminals = nil
    end
    redis.call('SADD', KEYS[5], sig)
    marked = marked + 1

    local wanted
    if type(entry.terminal) == 'string' then
      wanted = { entry.terminal }
    else
      known = known or redis.call('SMEMBERS', KEYS[3])
      wanted = known
    end
    local complete = true
    for _, t in ipairs(wanted) do
      if t ~= terminal and redis.call('SISMEMBER', ARGV[3] .. t, sig) == 0 then
        complete = false
        break
      end
    end

    if complete then
      redis.call('DEL', entryKey)
      if type(entry.cursor) == 'string' then
        redis.call('ZREM', KEYS[1], entry.cursor)
        redis.call('ZREM', KEYS[2], entry.cursor)
      end
      markedTerminals = markedTerminals or redis.call('SMEMBERS', KEYS[4])
      for _, t in ipairs(markedTerminals) do
        redis.call('SREM', ARGV[3] .. t, sig)
      end
      deleted = deleted + 1
    end
  end
end
if marked > 0 then
  -- drop terminals whose delivered set emptied (the acknowledging terminal's set included)
  markedTerminals = markedTerminals or redis.call('SMEMBERS', KEYS[4])
  for _, t in ipairs(markedTerminals) do
    if redis.call('EXISTS', ARGV[3] .. t) == 0 then
      redis.call('SREM', KEYS[4], t)
    end
  end
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('PEXPIRE', KEYS[5], ARGV[4])
  end
end
return { marked, deleted }
