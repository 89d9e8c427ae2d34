"""Signups per client address and per owner email, counted in Redis for every web process.

Each signup creates a schema and mails the address it names, so an anonymous caller gets a few
an hour from one address (an IPv4 address or an IPv6 /64) and a few a day for one email
address; then 429 with `Retry-After`. Only signups that passed validation are counted (a
typo costs nothing), and the count is taken *before* the tenant is created, atomically, so a
burst cannot slip through; a signup that fails afterwards gives its place back.

The keys carry the deployment's queue namespace rather than a tenant (there is none yet), so
two deployments, or two test processes, sharing one Redis count separately.
"""

from __future__ import annotations

import hashlib
import math

from app.core.config import get_settings
from app.core.i18n import _
from app.core.problems import TooManyRequests
from app.core.redis import get_redis, key
from app.identity.throttle import address_bucket

PER_ADDRESS = 5
ADDRESS_WINDOW = 3600
PER_EMAIL = 5
EMAIL_WINDOW = 24 * 3600

# KEYS: counters; ARGV: (limit, window) per key. Refuses with the longest wait, else counts.
_CLAIM = """
local wait = 0
for i, k in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', k) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('TTL', k)
    if ttl < 1 then ttl = 1 end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, k in ipairs(KEYS) do
  if redis.call('INCR', k) == 1 then redis.call('EXPIRE', k, tonumber(ARGV[2 * i])) end
end
return 0
"""

_RELEASE = """
for _, k in ipairs(KEYS) do
  if tonumber(redis.call('GET', k) or '0') > 0 then redis.call('DECR', k) end
end
return 0
"""


def _keys(ip: str, email: str) -> list[str]:
    namespace = get_settings().queue_namespace
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [
        key("signup", namespace, "address", address_bucket(ip)),
        key("signup", namespace, "email", digest),
    ]


async def claim(ip: str, email: str) -> None:
    """Count this signup, or refuse it (429) when the address or the email had enough."""
    keys = _keys(ip, email)
    limits = (PER_ADDRESS, ADDRESS_WINDOW, PER_EMAIL, EMAIL_WINDOW)
    wait = int(await get_redis().eval(_CLAIM, len(keys), *keys, *limits))  # type: ignore[misc]
    if wait > 0:
        raise TooManyRequests(
            _("Too many sign-ups from here. Try again in {minutes} minutes.").format(
                minutes=math.ceil(wait / 60)
            ),
            retry_after=wait,
        )


async def release(ip: str, email: str) -> None:
    """Give the place back: the signup it was taken for did not happen."""
    keys = _keys(ip, email)
    await get_redis().eval(_RELEASE, len(keys), *keys)  # type: ignore[misc]
