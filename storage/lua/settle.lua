-- settlement movements of one account in one atomic step: MOVES are pairs (op id, cents,
-- signed), an op id naming a bet and a journal step (e.g. "stl:<bet_id>:<seq>"). OP names the
-- group in the ledger, REF says what it was for.
-- Each op id moves money at most once, ever (K_DONE: op id -> cents): a replayed op is
-- skipped; the same op with another amount refuses the whole group (IDEMPOTENCY_KEY_REUSED,
-- nothing applied). The new ones are netted into one ledger entry:
--   net > 0: house:payouts pays the player ("credit"); money arriving pays debt first;
--   net < 0: the player pays house:payouts back ("debit", a correction or a rollback): from
--     the available balance first; what the player already spent becomes debt (player:debt),
--     repaid first by later money in. Never a silent clamp: the books balance.
-- Winnings offset losses in the loss limit's window (LOSS_WINDOW_MS); debits count as losses.
if not account() then return unknown_account() end
local ids, amounts = {}, {}
for i = MOVES_AT, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  amounts[#amounts + 1] = tonumber(ARGV[i + 1])
end
local done = redis.call('HMGET', K_DONE, unpack(ids))
local net, fresh, replayed, conflicts = 0, {}, 0, {}
for i, id in ipairs(ids) do
  if done[i] then
    if tonumber(done[i]) == amounts[i] then replayed = replayed + 1
    else conflicts[#conflicts + 1] = id end
  else
    net = net + amounts[i]
    fresh[#fresh + 1] = id
    fresh[#fresh + 1] = fmt(amounts[i])
  end
end
if #conflicts > 0 then
  return cjson.encode(fail('IDEMPOTENCY_KEY_REUSED',
    'settlement operations already moved other amounts', {ops = table.concat(conflicts, ',')}))
end
local seq, debt, kind = 0, 0, 'settle'  -- 'settle': nothing moved (all replayed)
if net > 0 then
  kind = 'credit'
  seq = post('credit', net, pay_in(PAYOUTS, net))
  redis.call('ZADD', K_LOSS, NOW, '-|' .. OP .. '|' .. fmt(net))
elseif net < 0 then
  kind = 'debit'
  local take = -net
  local from_available = math.min(math.max(0, bal(AVAIL)), take)
  debt = take - from_available
  seq = post('debit', take, {{AVAIL, PAYOUTS, from_available}, {DEBT, PAYOUTS, debt}})
  redis.call('ZADD', K_LOSS, NOW, '+|' .. OP .. '|' .. fmt(take))
end
if #fresh > 0 then
  redis.call('HSET', K_DONE, unpack(fresh))
  redis.call('ZREMRANGEBYSCORE', K_LOSS, '-inf', '(' .. fmt(NOW - LOSS_WINDOW_MS))
end
return cjson.encode(receipt(kind, 'completed', net, seq, {ref = REF, debt = fmt(debt),
  applied = #fresh / 2, replayed = #fresh == 0, replays = replayed}))
