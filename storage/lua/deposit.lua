-- deposit: ARGV[5] cents, [6] method, [7] blocked "|JUR:method|" table,
-- [8] review threshold cents (0 = never), [9..11] rolling windows ms (day, week, month)
local r = replay()
if r then return r end
local a = account()
if not a then return unknown_account() end
local amount, method = tonumber(ARGV[5]), ARGV[6]

local function refusal()
  if a.status ~= 'open' then return fail('ACCOUNT_CLOSED', 'the account is closed') end
  if a.excl_until > NOW then
    return fail('SELF_EXCLUDED', 'the account is self-excluded', {excluded_until_ms = fmt(a.excl_until)})
  end
  if string.find(ARGV[7], '|' .. a.jur .. ':' .. method .. '|', 1, true) then
    return fail('JURISDICTION_BLOCKED', method .. ' deposits are not allowed in ' .. a.jur,
      {method = method, jurisdiction = a.jur})
  end
  local names = {'deposit_daily', 'deposit_weekly', 'deposit_monthly'}
  for i, name in ipairs(names) do
    local lim = limit(name)
    if lim then
      local used = window_sum(K_DEPS, tonumber(ARGV[8 + i]))
      if used + amount > lim then
        return fail('DEPOSIT_LIMIT', 'the deposit would exceed the ' .. name .. ' limit',
          {limit = name, limit_cents = fmt(lim), remaining_cents = fmt(math.max(0, lim - used))})
      end
    end
  end
  return nil
end

local refused = refusal()
if refused then return store(refused, TTL) end

redis.call('ZADD', K_DEPS, NOW, '+|' .. OP .. '|' .. fmt(amount))
redis.call('ZREMRANGEBYSCORE', K_DEPS, '-inf', '(' .. fmt(NOW - tonumber(ARGV[11])))
local threshold = tonumber(ARGV[8])
if threshold > 0 and amount >= threshold then
  local seq = post('deposit', amount, {{CLEARING_IN, DHOLD, amount}})
  redis.call('HSET', K_REVIEWS, OP, cjson.encode({kind = 'deposit', amount = fmt(amount),
    ts = fmt(NOW), method = method}))
  return store(receipt('deposit', 'pending_review', amount, seq, {method = method}), TTL)
end
local seq = post('deposit', amount, pay_in(CLEARING_IN, amount))
return store(receipt('deposit', 'completed', amount, seq, {method = method}), TTL)
