-- decide a held deposit or withdrawal: OP = the original operation id, FP = the decision
-- ('approve' | 'reject'); K_OP holds the decision, taken by OPERATOR for REASON.
local rec = redis.call('GET', K_OP)
if rec then
  local d = cjson.decode(rec)
  if d.fp ~= FP then
    return cjson.encode(fail('ALREADY_DECIDED', 'review ' .. OP .. ' was already decided',
      {state = d.fp}))
  end
  d.r.replayed = true
  return cjson.encode(d.r)
end
if not account() then return unknown_account() end
local raw = redis.call('HGET', K_REVIEWS, OP)
if not raw then return cjson.encode(fail('UNKNOWN_OPERATION', 'no pending review ' .. OP)) end
local item = cjson.decode(raw)
local amount = tonumber(item.amount)
local postings
if item.kind == 'withdrawal' then
  if FP == 'approve' then postings = {{WHOLD, CLEARING_OUT, amount}}
  else postings = {{WHOLD, AVAIL, amount}} end
else
  if FP == 'approve' then postings = pay_in(DHOLD, amount)
  else
    postings = {{DHOLD, CLEARING_IN, amount}}
    -- a refused deposit no longer counts against the deposit limits
    redis.call('ZREM', K_DEPOSITS, '+|' .. OP .. '|' .. fmt(amount))
  end
end
redis.call('HDEL', K_REVIEWS, OP)
local seq = post(item.kind .. '_' .. FP, amount, postings)
local status = FP == 'approve' and 'approved' or 'rejected'
return store(receipt(item.kind, status, amount, seq,
  {operator = OPERATOR, reason = REASON}), TTL)
