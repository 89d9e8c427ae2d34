"""Sign-in throttling in Redis, shared by every web process.

Failures are counted per account (tenant + email) and per client address (tenant + address).
The first few are free; after that each attempt waits 2, 4, 8 … seconds (at most 15 minutes)
after the previous one, and an attempt that comes too early is refused with 429 and
`Retry-After` before any password is checked.

`check` counts the attempt as failed *before* the credential is checked, atomically with the
decision (one Lua script), so a burst of parallel guesses cannot all slip through before the
first one is counted. `succeeded` takes it back; `failed` stamps the failure's time, so the
back-off runs from the moment the failure was known. Every sign-in path calls `check` first,
then exactly one of `failed` or `succeeded`:

    await throttle.check(tenant, email, ip)
    if not ok:
        await throttle.failed(tenant, email, ip)
        raise ...
    await throttle.succeeded(tenant, email, ip)

Pass `account=None` where no account is known yet (invitation and reset tokens): only the
address is counted then.
"""

from __future__ import annotations

import hashlib
import math

from app.core.i18n import _
from app.core.problems import TooManyRequests
from app.core.redis import get_redis, key
from tenants.registry import TenantRef

ACCOUNT_FREE = 5
"""Failures allowed per account before the back-off starts."""
ADDRESS_FREE = 20
"""Per client address, higher: a whole office or a CGNAT shares one address."""
MAX_DELAY = 15 * 60
FORGET_AFTER = 24 * 3600
"""A counter is dropped a day after its last failure."""

_CHECK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[#KEYS + 1])
local ttl = tonumber(ARGV[#KEYS + 2])
local wait = 0
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'n', 'last')
  local n = tonumber(v[1]) or 0
  local last = tonumber(v[2]) or 0
  local free = tonumber(ARGV[i])
  if n >= free then
    local left = last + math.min(2 ^ (n - free + 1), cap) - now
    if left > wait then wait = left end
  end
end
if wait > 0 then return math.ceil(wait) end
for _, k in ipairs(KEYS) do
  redis.call('HINCRBY', k, 'n', 1)
  redis.call('HSET', k, 'last', string.format('%.6f', now))
  redis.call('EXPIRE', k, ttl)
end
return 0
"""

_FAILED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then
    redis.call('HSET', k, 'last', string.format('%.6f', now))
  end
end
return 0
"""

_TAKE_BACK = """
if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 0
"""


def account_key(tenant: TenantRef, account: str) -> str:
    # Hashed, so Redis holds no list of the tenant's email addresses.
    digest = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
    return key(tenant.id, "throttle", "account", digest)


def address_key(tenant: TenantRef, ip: str) -> str:
    return key(tenant.id, "throttle", "address", ip or "unknown")


def _keys(tenant: TenantRef, account: str | None, ip: str) -> tuple[list[str], list[int]]:
    keys, free = [address_key(tenant, ip)], [ADDRESS_FREE]
    if account:
        keys.append(account_key(tenant, account))
        free.append(ACCOUNT_FREE)
    return keys, free


async def check(tenant: TenantRef, account: str | None, ip: str) -> None:
    """Refuse (429) an attempt that comes too early; otherwise count it as failed until told."""
    keys, free = _keys(tenant, account, ip)
    redis = get_redis()
    wait = await redis.eval(_CHECK, len(keys), *keys, *free, MAX_DELAY, FORGET_AFTER)  # type: ignore[misc]
    if int(wait) > 0:
        seconds = max(1, math.ceil(int(wait)))
        raise TooManyRequests(
            _("Too many failed attempts. Try again in {seconds} seconds.").format(seconds=seconds),
            retry_after=seconds,
        )


async def failed(tenant: TenantRef, account: str | None, ip: str) -> None:
    keys, _free = _keys(tenant, account, ip)
    await get_redis().eval(_FAILED, len(keys), *keys)  # type: ignore[misc]


async def succeeded(tenant: TenantRef, account: str | None, ip: str) -> None:
    """The credential was right: clear the account's failures, take the attempt back."""
    redis = get_redis()
    if account:
        await redis.delete(account_key(tenant, account))
    await redis.eval(_TAKE_BACK, 1, address_key(tenant, ip))  # type: ignore[misc]
