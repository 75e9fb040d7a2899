-- write planned limit states if nobody changed the limits meanwhile (compare-and-set on ver):
-- KEYS[1] account, KEYS[2] limits; ARGV[1] expected ver, then name, current, next, next_at
-- ('' deletes the field: no limit / nothing pending).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({err = 'UNKNOWN_ACCOUNT', detail = 'no such account'})
end
local ver = redis.call('HGET', KEYS[2], 'ver') or '0'
if ver ~= ARGV[1] then return cjson.encode({retry = true}) end
local suffixes = {'', ':next', ':next_at'}
for i = 2, #ARGV, 4 do
  for j, suffix in ipairs(suffixes) do
    local value = ARGV[i + j]
    if value == '' then
      redis.call('HDEL', KEYS[2], ARGV[i] .. suffix)
    else
      redis.call('HSET', KEYS[2], ARGV[i] .. suffix, value)
    end
  end
end
return cjson.encode({ver = redis.call('HINCRBY', KEYS[2], 'ver', 1)})
