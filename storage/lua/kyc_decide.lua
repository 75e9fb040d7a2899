-- a KYC decision: STATUS with REASON by OPERATOR at NOW, kept on the account and appended to
-- its KYC log in one atomic step. DECISION_ID ('' for none) makes it idempotent: K_DECIDED
-- remembers it for TTL seconds, a repeat answers the same, another status is refused.
if redis.call('EXISTS', K_ACCT) == 0 then
  return cjson.encode({err = 'UNKNOWN_ACCOUNT', detail = 'no such account'})
end
if DECISION_ID ~= '' then
  local done = redis.call('GET', K_DECIDED)
  if done then
    if done ~= STATUS then
      return cjson.encode({err = 'ALREADY_DECIDED',
        detail = 'decision ' .. DECISION_ID .. ' was already taken the other way', state = done})
    end
    return cjson.encode({status = STATUS, replayed = true})
  end
end
local now = string.format('%d', NOW)
redis.call('HSET', K_ACCT, 'kyc', STATUS, 'kyc_reason', REASON, 'kyc_by', OPERATOR,
  'kyc_at', now)
redis.call('XADD', K_KYC_LOG, '*', 'status', STATUS, 'reason', REASON, 'by', OPERATOR,
  'ts', now, 'decision', DECISION_ID)
if DECISION_ID ~= '' then
  redis.call('SET', K_DECIDED, STATUS, 'EX', TTL)
end
return cjson.encode({status = STATUS, replayed = false})
