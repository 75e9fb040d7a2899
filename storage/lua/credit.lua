-- credit a settlement of AMOUNT cents: OP = e.g. "<bet_id>:<settlement_version>", REF a
-- reference kept in the receipt. Kept forever: a bet is paid at most once per version.
-- Winnings offset losses in the loss limit's window (LOSS_WINDOW_MS).
local r = replay()
if r then return r end
if not account() then return unknown_account() end
local seq = post('credit', AMOUNT, pay_in(PAYOUTS, AMOUNT))
redis.call('ZADD', K_LOSS, NOW, '-|' .. OP .. '|' .. fmt(AMOUNT))
redis.call('ZREMRANGEBYSCORE', K_LOSS, '-inf', '(' .. fmt(NOW - LOSS_WINDOW_MS))
return store(receipt('credit', 'completed', AMOUNT, seq, {ref = REF}), 0)
