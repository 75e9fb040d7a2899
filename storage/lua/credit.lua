-- credit a settlement: OP = e.g. "<bet_id>:<settlement_version>", ARGV[5] cents,
-- [6] reference, [7] loss window ms. Kept forever: a bet is paid at most once per version.
local r = replay()
if r then return r end
if not account() then return unknown_account() end
local amount = tonumber(ARGV[5])
local seq = post('credit', amount, pay_in(PAYOUTS, amount))
-- winnings offset losses in the rolling loss window
redis.call('ZADD', K_LOSS, NOW, '-|' .. OP .. '|' .. fmt(amount))
redis.call('ZREMRANGEBYSCORE', K_LOSS, '-inf', '(' .. fmt(NOW - tonumber(ARGV[7])))
return store(receipt('credit', 'completed', amount, seq, {ref = ARGV[6]}), 0)
