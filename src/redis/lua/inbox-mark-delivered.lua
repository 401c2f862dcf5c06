-- Record that a terminal has a batch of inbox entries (one call per batch of client acknowledgements) and
-- delete each entry once every terminal that wants it has it: the entry's own terminal when it was
-- addressed to `ID/terminal`, else every known terminal of the user plus the acknowledging one. Deleting
-- removes the entry's fields from the hashes (its delivered marks included) and its two index members.
-- Signatures without an entry are skipped.
--
-- KEYS[1]  the inbox (lex)   KEYS[2]  the inbox by store time   KEYS[3]  known terminals (set)
-- KEYS[4]  cursors           KEYS[5]  targets                   KEYS[6]  delivered (hash: signature →
--          JSON array of the terminals that have it)             KEYS[7]  messages
-- ARGV[1]  terminal   ARGV[2]  retention (ms)   ARGV[3…] signatures
--
-- Returns { entries marked, entries deleted }.
local terminal = ARGV[1]
local known = nil
local marked = 0
local deleted = 0

local function has(list, t)
  for _, x in ipairs(list) do
    if x == t then
      return true
    end
  end
  return false
end

for i = 3, #ARGV do
  local sig = ARGV[i]
  local cursor = redis.call('HGET', KEYS[4], sig)
  if cursor then
    marked = marked + 1
    local target = redis.call('HGET', KEYS[5], sig)
    local raw = redis.call('HGET', KEYS[6], sig)
    local have = {}
    if raw then
      local ok, list = pcall(cjson.decode, raw)
      if ok and type(list) == 'table' then
        have = list
      end
    end
    local wanted
    if target then
      wanted = { target }
    else
      known = known or redis.call('SMEMBERS', KEYS[3])
      wanted = known
    end
    local complete = true
    for _, t in ipairs(wanted) do
      if t ~= terminal and not has(have, t) then
        complete = false
        break
      end
    end
    if complete then
      redis.call('HDEL', KEYS[4], sig)
      redis.call('HDEL', KEYS[5], sig)
      redis.call('HDEL', KEYS[6], sig)
      redis.call('HDEL', KEYS[7], sig)
      redis.call('ZREM', KEYS[1], cursor)
      redis.call('ZREM', KEYS[2], cursor)
      deleted = deleted + 1
    elseif not has(have, terminal) then
      have[#have + 1] = terminal
      redis.call('HSET', KEYS[6], sig, cjson.encode(have))
    end
  end
end
if marked > deleted then
  redis.call('PEXPIRE', KEYS[6], ARGV[2])
end
return { marked, deleted }
