-- withdraw: ARGV[5] cents, [6] review threshold cents (0 = never).
-- Closed or self-excluded players may still take their money out.
local r = replay()
if r then return r end
if not account() then return unknown_account() end
local amount = tonumber(ARGV[5])
local available = bal(AVAIL)
if available < amount then
  return store(fail('INSUFFICIENT_FUNDS', 'available balance is lower than the withdrawal',
    {available_cents = fmt(available), requested_cents = fmt(amount)}), TTL)
end
local threshold = tonumber(ARGV[6])
if threshold > 0 and amount >= threshold then
  local seq = post('withdrawal', amount, {{AVAIL, WHOLD, amount}})
  redis.call('HSET', K_REVIEWS, OP, cjson.encode({kind = 'withdrawal', amount = fmt(amount),
    ts = fmt(NOW)}))
  return store(receipt('withdrawal', 'pending_review', amount, seq), TTL)
end
local seq = post('withdrawal', amount, {{AVAIL, CLEARING_OUT, amount}})
return store(receipt('withdrawal', 'completed', amount, seq), TTL)
