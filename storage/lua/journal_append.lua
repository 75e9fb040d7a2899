-- group commit: append COUNT entries after head SEQ, if this writer still holds EPOCH.
-- ENTRIES are COUNT triples (payload, chain hash, bet id or ''), then the new head hash and a
-- snapshot ('' for none). A bet's entry is also indexed in K_BETS under its bet id.
-- WORK > 0: the WORK-th entry of this batch calls for settlement; K_WORK keeps its seq.
local current = redis.call('GET', K_EPOCH)
if current ~= EPOCH then
  return redis.error_reply('FENCED epoch ' .. tostring(current) .. ' replaced ' .. EPOCH)
end
local seq = tonumber(redis.call('HGET', K_HEAD, 'seq') or '0')
if seq ~= SEQ then
  return redis.error_reply('SEQ_CONFLICT head is ' .. seq .. ' not ' .. SEQ)
end
local first = seq
local i = ENTRIES_AT
local records = {}
for k = 1, COUNT do
  seq = seq + 1
  redis.call('XADD', K_JOURNAL, seq .. '-0', 'e', ARGV[i], 'h', ARGV[i + 1])
  if ARGV[i + 2] ~= '' then
    records[#records + 1] = ARGV[i + 2]
    records[#records + 1] = ARGV[i]
  end
  i = i + 3
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
