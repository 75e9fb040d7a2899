-- self-exclusion: KEYS[1] account, KEYS[2] balances (for the seq); ARGV until ms, period, now.
-- An exclusion can only be extended, never shortened: it cannot be lifted early.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({err = 'UNKNOWN_ACCOUNT', detail = 'no such account'})
end
local current = tonumber(redis.call('HGET', KEYS[1], 'excl_until') or '0')
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('HSET', KEYS[1], 'excl_until', string.format('%d', wanted),
    'excl_period', ARGV[2], 'excl_since', ARGV[3])
end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
return cjson.encode({until_ms = string.format('%d', math.max(current, wanted)), seq = seq})
