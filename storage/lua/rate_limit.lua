-- token bucket: KEYS[1] bucket; ARGV now ms, rate per s, burst, cost -> {allowed, retry_ms}
-- (runs after the prelude, whose KEYS/ARGV names it does not use)
local allowed, retry_ms = take_tokens(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4]))
return {allowed, retry_ms}
