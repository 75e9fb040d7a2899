-- Shared prelude of the wallet scripts, run after the binding storage/scripts.py generates
-- (K_ACCT, K_BAL, ..., NOW, OP, FP, TTL: see WALLET_KEYS and WALLET_ARGS there).
-- Money is integer cents; time is the caller's injected clock (NOW, ms), never TIME,
-- so tests can move it and replays are deterministic.

local AVAIL, RESERVED = 'player:available', 'player:reserved'
local DHOLD, WHOLD, DEBT = 'player:deposit_hold', 'player:withdrawal_hold', 'player:debt'
local CLEARING_IN, STAKES = 'house:deposits_clearing', 'house:stakes_held'
local PAYOUTS, CLEARING_OUT = 'house:payouts', 'house:withdrawals_clearing'

-- %d keeps big cent values exact; Lua's default number formatting would print 1e+14
local function fmt(n) return string.format('%d', n) end

local function bal(name) return tonumber(redis.call('HGET', K_BAL, name) or '0') end

local function fail(code, detail, extra)
  local r = extra or {}
  r.err = code
  r.detail = detail
  return r
end

-- Remember the outcome (refusals too: the same operation id must always give the same answer).
local function store(result, ttl)
  local rec = cjson.encode({fp = FP, r = result})
  if ttl > 0 then
    redis.call('SET', K_OP, rec, 'EX', ttl)
  else
    redis.call('SET', K_OP, rec)
  end
  return cjson.encode(result)
end

-- The original outcome of this operation id, a reuse error, or nil when it is new.
local function replay()
  local rec = redis.call('GET', K_OP)
  if not rec then return nil end
  local d = cjson.decode(rec)
  if d.fp ~= FP then
    return cjson.encode(fail('IDEMPOTENCY_KEY_REUSED',
      'operation id ' .. OP .. ' was already used with a different request'))
  end
  d.r.replayed = true
  return cjson.encode(d.r)
end

local function account()
  local a = redis.call('HMGET', K_ACCT, 'status', 'kyc', 'jur', 'excl_until')
  if not a[1] then return nil end
  return {status = a[1], kyc = a[2], jur = a[3] or '', excl_until = tonumber(a[4] or '0') or 0}
end

local function unknown_account()
  return cjson.encode(fail('UNKNOWN_ACCOUNT', 'no such account'))
end

-- The limit in force now: a pending increase counts only once its cooling-off has passed.
local function limit(name)
  local v = redis.call('HMGET', K_LIMITS, name, name .. ':next', name .. ':next_at')
  local value = v[1]
  if v[3] and tonumber(v[3]) <= NOW then value = v[2] end
  if not value or value == '' or value == 'none' then return nil end
  return tonumber(value)
end

-- Sum of a rolling window of "<sign>|<op>|<cents>" members scored by time.
local function window_sum(key, window_ms)
  local total = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. fmt(NOW - window_ms), '+inf')) do
    local amt = tonumber(string.match(m, '|(%d+)$'))
    if string.sub(m, 1, 1) == '-' then total = total - amt else total = total + amt end
  end
  return total
end

-- Append one balanced entry: every posting debits one account and credits another by the
-- same amount, so the books of the slot always sum to zero.
local function post(kind, amount, postings)
  local parts = {}
  for _, p in ipairs(postings) do
    if p[3] > 0 then
      redis.call('HINCRBY', K_BAL, p[1], fmt(-p[3]))
      redis.call('HINCRBY', K_BAL, p[2], fmt(p[3]))
      parts[#parts + 1] = p[1] .. '>' .. p[2] .. '>' .. fmt(p[3])
    end
  end
  local seq = redis.call('HINCRBY', K_BAL, 'seq', 1)
  redis.call('XADD', K_LEDGER, '*', 'seq', seq, 'op', OP, 'kind', kind, 'ts', fmt(NOW),
    'amount', fmt(amount), 'postings', table.concat(parts, ';'))
  return seq
end

local function receipt(kind, status, amount, seq, extra)
  local r = extra or {}
  r.op = OP
  r.kind = kind
  r.status = status
  r.amount = fmt(amount)
  r.available = fmt(bal(AVAIL))
  r.seq = seq
  r.ts = fmt(NOW)
  return r
end

-- Money arriving for a player first pays off any debt left by a reversed settlement.
local function pay_in(source, amount)
  local owed = math.max(0, -bal(DEBT))
  local to_debt = math.min(owed, amount)
  return {{source, DEBT, to_debt}, {source, AVAIL, amount - to_debt}}
end

-- Token bucket: take ``cost``
-- tokens from the bucket hash at ``key`` (refilled at ``rate`` per second up to ``burst``,
-- timed by ``now`` ms); returns allowed (1/0) and, when refused, the ms until it would be.
local function take_tokens(key, now, rate, burst, cost)
  local s = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(s[1]) or burst
  local ts = tonumber(s[2]) or now
  if now > ts then
    tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
    ts = now
  end
  local allowed, retry_ms = 0, 0
  if tokens >= cost then
    tokens = tokens - cost
    allowed = 1
  else
    retry_ms = math.ceil((cost - tokens) * 1000 / rate)
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', string.format('%d', ts))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  return allowed, retry_ms
end
