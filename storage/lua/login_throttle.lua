-- one login throttle: an account name's or an address's (K_STATE: hash fails, until).
-- OP 'attempt': how long to wait first (ms; 0: go ahead, and the attempt is counted). Once
-- FREE attempts are counted, each further one sets a wait of BASE_MS doubling per attempt,
-- at most CAP_MS; a refused attempt is not counted (waiting is never extended by it). The
-- count is forgotten WINDOW_MS after the last counted attempt.
-- OP 'refund': one counted attempt given back (a login that succeeded, from an address).
-- OP 'forget': the whole state dropped (a login that succeeded, for an account name).
if OP == 'forget' then
  redis.call('DEL', K_STATE)
  return 0
end
local fails = tonumber(redis.call('HGET', K_STATE, 'fails') or '0')
if OP == 'refund' then
  if fails > 0 then redis.call('HINCRBY', K_STATE, 'fails', -1) end
  return 0
end
local until_ms = tonumber(redis.call('HGET', K_STATE, 'until') or '0')
if until_ms > NOW then
  return until_ms - NOW
end
fails = fails + 1
local wait = 0
if fails >= FREE then
  wait = math.min(CAP_MS, BASE_MS * 2 ^ math.min(fails - FREE, 40))
end
redis.call('HSET', K_STATE, 'fails', fails, 'until', NOW + wait)
redis.call('PEXPIRE', K_STATE, WINDOW_MS + wait)
return 0
