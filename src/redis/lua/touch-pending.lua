-- Reset the idle time of entries a consumer still owns, so that other consumers do not reclaim entries it
-- is processing (slow handlers) or holding (queued behind their order key). Ownership is checked and the
-- claim made atomically: an entry another consumer has meanwhile claimed is left alone. XCLAIM JUSTID does
-- not count a delivery.
--
-- KEYS[1]  the stream
-- ARGV[1]  group   ARGV[2]  consumer   ARGV[3…]  entry IDs
--
-- Returns the IDs that are no longer pending for this consumer.
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  local entry = pending[1]
  if entry and entry[2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
  else
    lost[#lost + 1] = id
  end
end
return lost
