-- write planned limit states if nobody changed the limits meanwhile (compare-and-set on
-- EXPECTED_VER); the CHANGES are groups of name, current, next, next_at ('' deletes the
-- field: no limit / nothing pending).
if redis.call('EXISTS', K_ACCT) == 0 then
  return cjson.encode({err = 'UNKNOWN_ACCOUNT', detail = 'no such account'})
end
local ver = redis.call('HGET', K_LIMITS, 'ver') or '0'
if ver ~= EXPECTED_VER then return cjson.encode({retry = true}) end
local suffixes = {'', ':next', ':next_at'}
for i = CHANGES_AT, #ARGV, 4 do
  for j, suffix in ipairs(suffixes) do
    local value = ARGV[i + j]
    if value == '' then
      redis.call('HDEL', K_LIMITS, ARGV[i] .. suffix)
    else
      redis.call('HSET', K_LIMITS, ARGV[i] .. suffix, value)
    end
  end
end
return cjson.encode({ver = redis.call('HINCRBY', K_LIMITS, 'ver', 1)})
