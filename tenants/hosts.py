"""Which tenant a request is for, from its Host header (never from its body)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from app.core.config import get_settings
from tenants.registry import TenantRef, tenant_by_domain, tenant_by_slug

_HOST_RE = re.compile(r"^[a-z0-9.-]{1,253}$")
_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BaseHost:
    """The platform's own site (signup), not any tenant."""


BASE = BaseHost()
Resolved = TenantRef | BaseHost | None

_cache: dict[str, tuple[float, Resolved]] = {}


def normalise(host_header: str | None) -> str:
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return ""
    host = host.rsplit(":", 1)[0] if ":" in host else host
    host = host.rstrip(".")
    return host if _HOST_RE.match(host) else ""


async def resolve(host_header: str | None) -> Resolved:
    host = normalise(host_header)
    if not host:
        return None
    now = time.monotonic()
    cached = _cache.get(host)
    if cached and cached[0] > now:
        return cached[1]
    result = await _lookup(host)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[host] = (now + _CACHE_SECONDS, result)
    return result


def forget(host_or_slug: str | None = None) -> None:
    """Drop cached resolutions (after a tenant's status or domains change)."""
    _cache.clear()


async def _lookup(host: str) -> Resolved:
    base = get_settings().base_domain
    if host == base:
        return BASE
    if host.endswith("." + base):
        slug = host[: -len(base) - 1]
        if "." in slug:
            return None
        return await tenant_by_slug(slug)
    return await tenant_by_domain(host)
