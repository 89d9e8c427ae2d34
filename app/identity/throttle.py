"""Sign-in throttling in Redis, shared by every web process.

Failures are counted per client address (tenant + address), per account (tenant + email) and
per account at one address. The first few are free; after that each attempt waits 2, 4, 8 …
seconds after the latest failure, and an attempt that comes too early is refused with 429 and
`Retry-After` before any password is checked.

The account's back-off must not become a way to lock its owner out (anyone who knows a staff
email could otherwise keep the account blocked from addresses of their own). So it holds back
in full (after `ACCOUNT_FREE` failures, up to 15 minutes) only addresses that have themselves
failed on this account. An address that has not — the owner's office, say — is held back only
once the account has collected `ACCOUNT_CEILING` failures, and then for at most
`FRESH_MAX_DELAY`: a guesser needs a new address for every further guess and still gets at
most one a minute, while the right password from a clean address keeps working.

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
import ipaddress
import math

from app.core.i18n import _
from app.core.problems import TooManyRequests
from app.core.redis import get_redis, key
from tenants.registry import TenantRef

ACCOUNT_FREE = 5
"""Failures allowed on an account before addresses that failed on it back off."""
ACCOUNT_CEILING = 50
"""Failures on an account after which even addresses that never failed on it wait a little."""
ADDRESS_FREE = 20
"""Per client address, higher: a whole office or a CGNAT shares one address."""
MAX_DELAY = 15 * 60
FRESH_MAX_DELAY = 60
"""The longest an address with no failures of its own on the account is held back."""
FORGET_AFTER = 24 * 3600
"""A counter is dropped a day after its last failure."""

# KEYS: address [, account, account at this address]. ARGV: per key (free, cap), then the
# account's (free, cap) for an address that has not failed on it, then the TTL.
_CHECK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function left(k, free, cap)
  local v = redis.call('HMGET', k, 'n', 'last')
  local n = tonumber(v[1]) or 0
  local last = tonumber(v[2]) or 0
  if n < free then return 0 end
  return last + math.min(2 ^ (n - free + 1), cap) - now
end
local wait = left(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if #KEYS == 3 then
  local free, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
  if (tonumber(redis.call('HGET', KEYS[3], 'n') or '0')) == 0 then
    free, cap = tonumber(ARGV[5]), tonumber(ARGV[6])
  end
  local w = left(KEYS[2], free, cap)
  if w > wait then wait = w end
end
if wait > 0 then return math.ceil(wait) end
for _, k in ipairs(KEYS) do
  redis.call('HINCRBY', k, 'n', 1)
  redis.call('HSET', k, 'last', string.format('%.6f', now))
  redis.call('EXPIRE', k, tonumber(ARGV[7]))
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


def _digest(account: str) -> str:
    # Hashed, so Redis holds no list of the tenant's email addresses.
    return hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]


def address_bucket(ip: str) -> str:
    """The unit an address is counted in: an IPv4 address, or an IPv6 /64 (one subscriber
    line or one host's range; counting single IPv6 addresses would give a guesser billions)."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def account_key(tenant: TenantRef, account: str) -> str:
    return key(tenant.id, "throttle", "account", _digest(account))


def account_address_key(tenant: TenantRef, account: str, ip: str) -> str:
    return key(tenant.id, "throttle", "account-address", _digest(account), address_bucket(ip))


def address_key(tenant: TenantRef, ip: str) -> str:
    return key(tenant.id, "throttle", "address", address_bucket(ip))


def _keys(tenant: TenantRef, account: str | None, ip: str) -> list[str]:
    keys = [address_key(tenant, ip)]
    if account:
        keys += [account_key(tenant, account), account_address_key(tenant, account, ip)]
    return keys


async def check(tenant: TenantRef, account: str | None, ip: str) -> None:
    """Refuse (429) an attempt that comes too early; otherwise count it as failed until told."""
    keys = _keys(tenant, account, ip)
    limits = (ADDRESS_FREE, MAX_DELAY, ACCOUNT_FREE, MAX_DELAY, ACCOUNT_CEILING, FRESH_MAX_DELAY)
    redis = get_redis()
    wait = await redis.eval(_CHECK, len(keys), *keys, *limits, FORGET_AFTER)  # type: ignore[misc]
    if int(wait) > 0:
        seconds = max(1, math.ceil(int(wait)))
        raise TooManyRequests(
            _("Too many failed attempts. Try again in {seconds} seconds.").format(seconds=seconds),
            retry_after=seconds,
        )


async def failed(tenant: TenantRef, account: str | None, ip: str) -> None:
    keys = _keys(tenant, account, ip)
    await get_redis().eval(_FAILED, len(keys), *keys)  # type: ignore[misc]


async def succeeded(tenant: TenantRef, account: str | None, ip: str) -> None:
    """The credential was right: clear the account's failures, take the attempt back."""
    redis = get_redis()
    if account:
        await redis.delete(account_key(tenant, account), account_address_key(tenant, account, ip))
    await redis.eval(_TAKE_BACK, 1, address_key(tenant, ip))  # type: ignore[misc]
