-- self-exclusion until UNTIL_MS (PERIOD, asked at NOW); K_BAL only gives the seq.
-- An exclusion can only be extended, never shortened: it cannot be lifted early.
if redis.call('EXISTS', K_ACCT) == 0 then
  return cjson.encode({err = 'UNKNOWN_ACCOUNT', detail = 'no such account'})
end
local current = tonumber(redis.call('HGET', K_ACCT, 'excl_until') or '0')
if UNTIL_MS > current then
  redis.call('HSET', K_ACCT, 'excl_until', string.format('%d', UNTIL_MS),
    'excl_period', PERIOD, 'excl_since', string.format('%d', NOW))
end
local seq = redis.call('HINCRBY', K_BAL, 'seq', 1)
return cjson.encode({until_ms = string.format('%d', math.max(current, UNTIL_MS)), seq = seq})
