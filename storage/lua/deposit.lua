-- deposit: AMOUNT cents by METHOD; BLOCKED_METHODS is the "|JUR:method|" table; at or above
-- REVIEW_THRESHOLD cents (0 = never) the money is held for an operator; the deposit limits
-- are checked over rolling windows of WINDOW_DAY_MS, WINDOW_WEEK_MS and WINDOW_MONTH_MS.
local r = replay()
if r then return r end
local a = account()
if not a then return unknown_account() end

local function refusal()
  if a.status ~= 'open' then return fail('ACCOUNT_CLOSED', 'the account is closed') end
  if a.excl_until > NOW then
    return fail('SELF_EXCLUDED', 'the account is self-excluded', {excluded_until_ms = fmt(a.excl_until)})
  end
  if string.find(BLOCKED_METHODS, '|' .. a.jur .. ':' .. METHOD .. '|', 1, true) then
    return fail('JURISDICTION_BLOCKED', METHOD .. ' deposits are not allowed in ' .. a.jur,
      {method = METHOD, jurisdiction = a.jur})
  end
  local limits = {{'deposit_daily', WINDOW_DAY_MS}, {'deposit_weekly', WINDOW_WEEK_MS},
    {'deposit_monthly', WINDOW_MONTH_MS}}
  for _, l in ipairs(limits) do
    local lim = limit(l[1])
    if lim then
      local used = window_sum(K_DEPOSITS, l[2])
      if used + AMOUNT > lim then
        return fail('DEPOSIT_LIMIT', 'the deposit would exceed the ' .. l[1] .. ' limit',
          {limit = l[1], limit_cents = fmt(lim), remaining_cents = fmt(math.max(0, lim - used))})
      end
    end
  end
  return nil
end

local refused = refusal()
if refused then return store(refused, TTL) end

redis.call('ZADD', K_DEPOSITS, NOW, '+|' .. OP .. '|' .. fmt(AMOUNT))
redis.call('ZREMRANGEBYSCORE', K_DEPOSITS, '-inf', '(' .. fmt(NOW - WINDOW_MONTH_MS))
if REVIEW_THRESHOLD > 0 and AMOUNT >= REVIEW_THRESHOLD then
  local seq = post('deposit', AMOUNT, {{CLEARING_IN, DHOLD, AMOUNT}})
  redis.call('HSET', K_REVIEWS, OP, cjson.encode({kind = 'deposit', amount = fmt(AMOUNT),
    ts = fmt(NOW), method = METHOD}))
  return store(receipt('deposit', 'pending_review', AMOUNT, seq, {method = METHOD}), TTL)
end
local seq = post('deposit', AMOUNT, pay_in(CLEARING_IN, AMOUNT))
return store(receipt('deposit', 'completed', AMOUNT, seq, {method = METHOD}), TTL)
