-- Scan one bounded chunk of a user's inbox in backlog order (lexicographic cursors) for entries a terminal
-- has not yet had: stored at or before ARGV[3], addressed to every terminal or to ARGV[2], and not marked
-- delivered to it. Index members whose entry is gone (or was stored again under a newer cursor) are
-- removed on the way. The caller repeats from the last scanned member until it has its page plus one more
-- match (then there is a next page) or the inbox is exhausted.
--
-- KEYS[1]  the inbox (lex)   KEYS[2]  the inbox by store time   KEYS[3]  cursors   KEYS[4]  targets
-- KEYS[5]  delivered         KEYS[6]  messages
-- ARGV[1]  range start ('-' or '(' .. cursor)   ARGV[2]  terminal   ARGV[3]  until (ms, inclusive)
-- ARGV[4]  entries wanted   ARGV[5]  members to scan at most
--
-- Returns { last scanned member or '', exhausted (0/1), more (0/1), member, target, message, … } (target:
-- '' for every terminal, else '/' .. the terminal): `more` = 1 when one more match exists after the
-- returned entries (it is not returned).
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[5])
local terminal = ARGV[2]
local untilMs = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local found = {}
local count = 0
local more = 0
local last = ''

local function delivered(sig)
  local raw = redis.call('HGET', KEYS[5], sig)
  if not raw then
    return false
  end
  local ok, list = pcall(cjson.decode, raw)
  if not ok or type(list) ~= 'table' then
    return false
  end
  for _, t in ipairs(list) do
    if t == terminal then
      return true
    end
  end
  return false
end

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
    local message = redis.call('HGET', KEYS[6], sig)
    if redis.call('HGET', KEYS[3], sig) ~= member or not message then
      -- the entry is gone (safety expiry) or was stored again under a newer cursor
      redis.call('ZREM', KEYS[1], member)
      redis.call('ZREM', KEYS[2], member)
    else
      local target = redis.call('HGET', KEYS[4], sig)
      if (not target or target == terminal) and not delivered(sig) then
        if count >= wanted then
          more = 1
          break
        end
        count = count + 1
        found[#found + 1] = member
        found[#found + 1] = target and ('/' .. target) or ''
        found[#found + 1] = message
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
