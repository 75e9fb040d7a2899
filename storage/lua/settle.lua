-- a settlement movement of AMOUNT cents, signed (OP names the bet and the step, e.g.
-- "stl:<bet_id>:<journal seq>"; REF is kept in the receipt). Kept forever: a step moves a
-- bet's money at most once, whatever is replayed.
--   AMOUNT > 0: house:payouts pays the player ("credit"); money arriving pays debt first.
--   AMOUNT < 0: the player pays house:payouts back ("debit", a correction or a rollback):
--     from the available balance first; what the player already spent becomes debt
--     (player:debt), repaid first by later money in. Never a silent clamp: the books balance.
-- Winnings offset losses in the loss limit's window (LOSS_WINDOW_MS); debits count as losses.
local r = replay()
if r then return r end
if not account() then return unknown_account() end
local seq, debt, kind = 0, 0, 'credit'
if AMOUNT > 0 then
  seq = post('credit', AMOUNT, pay_in(PAYOUTS, AMOUNT))
  redis.call('ZADD', K_LOSS, NOW, '-|' .. OP .. '|' .. fmt(AMOUNT))
elseif AMOUNT < 0 then
  kind = 'debit'
  local take = -AMOUNT
  local from_available = math.min(math.max(0, bal(AVAIL)), take)
  debt = take - from_available
  seq = post('debit', take, {{AVAIL, PAYOUTS, from_available}, {DEBT, PAYOUTS, debt}})
  redis.call('ZADD', K_LOSS, NOW, '+|' .. OP .. '|' .. fmt(take))
end
redis.call('ZREMRANGEBYSCORE', K_LOSS, '-inf', '(' .. fmt(NOW - LOSS_WINDOW_MS))
return store(receipt(kind, 'completed', AMOUNT, seq, {ref = REF, debt = fmt(debt)}), 0)
