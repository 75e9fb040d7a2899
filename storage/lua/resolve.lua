-- commit or release a reservation: OP = the reservation (bet) id, FP = 'commit' | 'release',
-- K_OP holds the resolution so a repeat answers the same and the other action is refused.
local rec = redis.call('GET', K_OP)
if rec then
  local d = cjson.decode(rec)
  if d.fp ~= FP then
    return cjson.encode(fail('UNKNOWN_OPERATION', 'reservation ' .. OP .. ' was already resolved',
      {state = d.r.status}))
  end
  d.r.replayed = true
  return cjson.encode(d.r)
end
if not account() then return unknown_account() end
local raw = redis.call('HGET', K_RESERVATIONS, OP)
if not raw then return cjson.encode(fail('UNKNOWN_OPERATION', 'no open reservation ' .. OP)) end
local amount = tonumber(string.match(raw, '^(%d+)|'))
local seq, status
if FP == 'commit' then
  seq = post('commit', amount, {{RESERVED, STAKES, amount}})
  status = 'committed'
else
  seq = post('release', amount, {{RESERVED, AVAIL, amount}})
  redis.call('ZREM', K_LOSS, '+|' .. OP .. '|' .. fmt(amount))
  status = 'released'
end
redis.call('HDEL', K_RESERVATIONS, OP)
return store(receipt(FP, status, amount, seq), TTL)
