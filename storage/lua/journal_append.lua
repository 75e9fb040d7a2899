-- group commit: append COUNT entries after head SEQ, if this writer still holds EPOCH.
-- ENTRIES are COUNT quadruples (payload, chain hash, bet id or '', '1' if the bet must be new
-- or ''), then the new head hash and a snapshot ('' for none). A bet's entry is also indexed
-- in K_BETS under its bet id. A bet that must be new (the actor decided it without looking
-- for an earlier decision: its stake reservation was new) and is already indexed refuses the
-- whole append with DUPLICATE_BET, before anything is written: the actor then decides the
-- batch again, this time with the earlier decisions loaded.
-- WORK > 0: the WORK-th entry of this batch calls for settlement; K_WORK keeps its seq.
local current = redis.call('GET', K_EPOCH)
if current ~= EPOCH then
  return redis.error_reply('FENCED epoch ' .. tostring(current) .. ' replaced ' .. EPOCH)
end
local seq = tonumber(redis.call('HGET', K_HEAD, 'seq') or '0')
if seq ~= SEQ then
  return redis.error_reply('SEQ_CONFLICT head is ' .. seq .. ' not ' .. SEQ)
end
local i = ENTRIES_AT
for k = 1, COUNT do
  if ARGV[i + 3] == '1' and redis.call('HEXISTS', K_BETS, ARGV[i + 2]) == 1 then
    return redis.error_reply('DUPLICATE_BET ' .. ARGV[i + 2] .. ' is decided already')
  end
  i = i + 4
end
local first = seq
i = ENTRIES_AT
local records = {}
for k = 1, COUNT do
  seq = seq + 1
  redis.call('XADD', K_JOURNAL, seq .. '-0', 'e', ARGV[i], 'h', ARGV[i + 1])
  if ARGV[i + 2] ~= '' then
    records[#records + 1] = ARGV[i + 2]
    records[#records + 1] = ARGV[i]
  end
  i = i + 4
end
if #records > 0 then
  for j = 1, #records, 512 do
    redis.call('HSET', K_BETS, unpack(records, j, math.min(j + 511, #records)))
  end
end
redis.call('HSET', K_HEAD, 'seq', seq, 'hash', ARGV[i], 'epoch', EPOCH)
if ARGV[i + 1] ~= '' then
  redis.call('SET', K_SNAPSHOT, ARGV[i + 1])
end
if WORK > 0 then
  redis.call('SET', K_WORK, first + WORK)
end
return seq
