-- reserve a stake of AMOUNT cents on PRODUCT (OP = bet id); BLOCKED_PRODUCTS is the
-- "|JUR:product|" table, LOSS_WINDOW_MS the loss limit's rolling window. Every player-protection rule is checked here, in the same atomic
-- step that moves the money, so no cache can lag behind an exclusion or a limit change.
-- Placing a bet adds (all in the account's slot, so still one atomic step):
--   K_RATE_BUCKET the rate-limit bucket, RATE_PER_S and RATE_BURST: a new operation takes
--     a token first; without one it is refused RATE_LIMITED and NOT remembered (a retry later
--     is a new try), while a replay of a known operation costs no token;
--   K_BETREF bet -> event hash, K_BETS the account's bets by time, EVENT_ID:
--     written with the reservation, so a reserved bet can always be traced to its event.
local r = replay()
if r then return r end
if K_RATE_BUCKET then
  local allowed, retry_ms = take_tokens(K_RATE_BUCKET, NOW, RATE_PER_S, RATE_BURST, 1)
  if allowed == 0 then
    return cjson.encode(fail('RATE_LIMITED', 'too many bets', {retry_after_s = retry_ms / 1000}))
  end
end
local a = account()
if not a then return unknown_account() end
local amount, product = AMOUNT, PRODUCT

local function refusal()
  if a.status ~= 'open' then return fail('ACCOUNT_CLOSED', 'the account is closed') end
  if a.excl_until > NOW then
    return fail('SELF_EXCLUDED', 'the account is self-excluded', {excluded_until_ms = fmt(a.excl_until)})
  end
  if a.kyc ~= 'verified' then
    return fail('KYC_REQUIRED', 'identity is not verified', {kyc_status = a.kyc or 'none'})
  end
  if string.find(BLOCKED_PRODUCTS, '|' .. a.jur .. ':' .. product .. '|', 1, true) then
    return fail('JURISDICTION_BLOCKED', product .. ' is not allowed in ' .. a.jur,
      {product = product, jurisdiction = a.jur})
  end
  local stake_max = limit('stake_max')
  if stake_max and amount > stake_max then
    return fail('LIMIT_EXCEEDED', 'the stake is above the stake_max limit',
      {limit = 'stake_max', limit_cents = fmt(stake_max), remaining_cents = fmt(stake_max)})
  end
  local loss_max = limit('loss_daily')
  if loss_max then
    local lost = window_sum(K_LOSS, LOSS_WINDOW_MS)
    if lost + amount > loss_max then
      return fail('LIMIT_EXCEEDED', 'the stake could exceed the loss_daily limit',
        {limit = 'loss_daily', limit_cents = fmt(loss_max),
         remaining_cents = fmt(math.max(0, loss_max - lost))})
    end
  end
  local available = bal(AVAIL)
  if available < amount then
    return fail('INSUFFICIENT_FUNDS', 'available balance is lower than the stake',
      {available_cents = fmt(available), requested_cents = fmt(amount)})
  end
  return nil
end

local refused = refusal()
if refused then return store(refused, TTL) end
local seq = post('reserve', amount, {{AVAIL, RESERVED, amount}})
redis.call('HSET', K_RESERVATIONS, OP, fmt(amount) .. '|' .. product .. '|' .. fmt(NOW))
-- a stake counts as a potential loss from the moment it is reserved
redis.call('ZADD', K_LOSS, NOW, '+|' .. OP .. '|' .. fmt(amount))
redis.call('ZREMRANGEBYSCORE', K_LOSS, '-inf', '(' .. fmt(NOW - LOSS_WINDOW_MS))
if K_BETREF then
  redis.call('HSET', K_BETREF, OP, EVENT_ID)
  redis.call('ZADD', K_BETS, 'NX', NOW, OP)
end
return store(receipt('reserve', 'reserved', amount, seq, {product = product}), TTL)
