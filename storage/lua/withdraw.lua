-- withdraw AMOUNT cents; at or above REVIEW_THRESHOLD cents (0 = never) it is held for an
-- operator. Closed or self-excluded players may still take their money out.
local r = replay()
if r then return r end
if not account() then return unknown_account() end
local available = bal(AVAIL)
if available < AMOUNT then
  return store(fail('INSUFFICIENT_FUNDS', 'available balance is lower than the withdrawal',
    {available_cents = fmt(available), requested_cents = fmt(AMOUNT)}), TTL)
end
if REVIEW_THRESHOLD > 0 and AMOUNT >= REVIEW_THRESHOLD then
  local seq = post('withdrawal', AMOUNT, {{AVAIL, WHOLD, AMOUNT}})
  redis.call('HSET', K_REVIEWS, OP, cjson.encode({kind = 'withdrawal', amount = fmt(AMOUNT),
    ts = fmt(NOW)}))
  return store(receipt('withdrawal', 'pending_review', AMOUNT, seq), TTL)
end
local seq = post('withdrawal', AMOUNT, {{AVAIL, CLEARING_OUT, AMOUNT}})
return store(receipt('withdrawal', 'completed', AMOUNT, seq), TTL)
