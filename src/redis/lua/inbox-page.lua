-- Scan one bounded chunk of a user's inbox in backlog order (lexicographic cursors) for entries a terminal
-- has not yet had: stored at or before ARGV[3], addressed to every terminal or to ARGV[2], and not in the
-- terminal's delivered set. Index members whose entry is gone (or was re-stored under a newer member) are
-- removed on the way. The caller repeats from the last scanned member until it has its page plus one more
-- match (then there is a next page) or the inbox is exhausted.
--
-- KEYS[1]  the inbox (lex)   KEYS[2]  the inbox by store time   KEYS[3]  delivered set of ARGV[2]
-- ARGV[1]  range start ('-' or '(' .. cursor)   ARGV[2]  terminal   ARGV[3]  until (ms, inclusive)
-- ARGV[4]  entries wanted   ARGV[5]  members to scan at most   ARGV[6]  entry key prefix
--
-- Returns { last scanned member or '', exhausted (0/1), more (0/1), member, entry JSON, member, … }:
-- `more` = 1 when one more match exists after the returned entries (it is not returned).
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[5])
local untilMs = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local found = {}
local count = 0
local more = 0
local last = ''
for _, member in ipairs(members) do
  last = member
  local first = string.find(member, ':', 1, true)
  local second = first and string.find(member, ':', first + 1, true)
  local storedAt = second and tonumber(string.sub(member, first + 1, second - 1))
  if not storedAt then
    -- not a cursor: drop it
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
  elseif storedAt <= untilMs then
    local sig = string.sub(member, second + 1)
    local raw = redis.call('GET', ARGV[6] .. sig)
    local ok, entry = pcall(cjson.decode, raw or 'null')
    if not raw or (ok and type(entry) == 'table' and entry.cursor ~= member) then
      -- the entry is gone (safety expiry) or was stored again under a newer member
      redis.call('ZREM', KEYS[1], member)
      redis.call('ZREM', KEYS[2], member)
    elseif ok and type(entry) == 'table' then
      local terminal = entry.terminal
      if (type(terminal) ~= 'string' or terminal == ARGV[2]) and redis.call('SISMEMBER', KEYS[3], sig) == 0 then
        if count >= wanted then
          more = 1
          break
        end
        count = count + 1
        found[#found + 1] = member
        found[#found + 1] = raw
      end
    end
  end
end
local exhausted = 0
if more == 0 and #members < tonumber(ARGV[5]) then
  exhausted = 1
end
local reply = { last, exhausted, more }
for i = 1, #found do
  reply[#reply + 1] = found[i]
end
return reply
