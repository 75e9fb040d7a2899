-- reverse a credit exactly (resettlement, rollback): OP = this reversal, K_AUX = the credit's
-- record, CREDIT_OP the credit's op id. If the player already spent the money the shortfall is
-- booked as debt (player:debt), so the reversal always nets out to the cent.
local r = replay()
if r then return r end
if not account() then return unknown_account() end
local raw = redis.call('GET', K_AUX)
local credit = raw and cjson.decode(raw)
if not credit or credit.r.kind ~= 'credit' or credit.r.err then
  return cjson.encode(fail('UNKNOWN_OPERATION', 'no credit ' .. CREDIT_OP))
end
if credit.rb then
  return store(receipt('reverse', 'already_reversed', 0, 0,
    {credit_op = CREDIT_OP, reversed_by = credit.rb}), 0)
end
local amount = tonumber(credit.r.amount)
local from_available = math.min(math.max(0, bal(AVAIL)), amount)
local seq = post('reverse', amount,
  {{AVAIL, PAYOUTS, from_available}, {DEBT, PAYOUTS, amount - from_available}})
credit.rb = OP
redis.call('SET', K_AUX, cjson.encode(credit))
redis.call('ZADD', K_LOSS, NOW, '+|' .. OP .. '|' .. fmt(amount))
return store(receipt('reverse', 'reversed', amount, seq, {credit_op = CREDIT_OP}), 0)
