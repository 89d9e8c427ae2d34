"""Server-side sessions in Redis, bound to one tenant.

The cookie holds only a random id; Redis holds the principal under a key that names the tenant
and a hash of the id, so a cookie presented on another tenant's host finds nothing, and a
leaked Redis dump holds no usable cookie. Each user's live sessions are indexed, so they can
all be ended at once (sign out everywhere, deactivation, role change).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict

from litestar.datastructures import Cookie

from app.core.principal import Principal
from app.core.redis import get_redis, key
from tenants.registry import TenantRef

COOKIE = "wisp_session"
IDLE_TIMEOUT = 12 * 3600
ABSOLUTE_TIMEOUT = 7 * 24 * 3600


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _session_key(tenant: TenantRef, session_hash: str) -> str:
    return key(tenant.id, "session", session_hash)


def _index_key(tenant: TenantRef, user_id: str) -> str:
    return key(tenant.id, "user-sessions", user_id)


async def start(tenant: TenantRef, principal: Principal) -> str:
    """A new session; the caller sets the cookie. A new id at every sign-in defeats fixation."""
    session_id = secrets.token_urlsafe(32)
    session_hash = _hash(session_id)
    data = asdict(principal)
    data["created_at"] = time.time()
    data["session_hash"] = session_hash
    redis = get_redis()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(_session_key(tenant, session_hash), json.dumps(data), ex=IDLE_TIMEOUT)
        pipe.sadd(_index_key(tenant, principal.user_id), session_hash)
        pipe.expire(_index_key(tenant, principal.user_id), ABSOLUTE_TIMEOUT)
        await pipe.execute()
    return session_id


async def load(tenant: TenantRef, session_id: str) -> Principal | None:
    if not session_id or len(session_id) > 128:
        return None
    session_hash = _hash(session_id)
    redis = get_redis()
    # GETEX reads and slides the idle timeout in one round trip (this runs on every request).
    raw = await redis.getex(_session_key(tenant, session_hash), ex=IDLE_TIMEOUT)
    if raw is None:
        return None
    data = json.loads(raw)
    if time.time() - float(data["created_at"]) > ABSOLUTE_TIMEOUT:
        await end(tenant, session_id)
        return None
    return Principal(**data)


async def end(tenant: TenantRef, session_id: str) -> None:
    session_hash = _hash(session_id)
    redis = get_redis()
    raw = await redis.getdel(_session_key(tenant, session_hash))
    if raw is not None:
        await redis.srem(_index_key(tenant, json.loads(raw)["user_id"]), session_hash)


async def end_all(tenant: TenantRef, user_id: str) -> int:
    """End every session of one user; returns how many were live."""
    redis = get_redis()
    index = _index_key(tenant, user_id)
    hashes = [str(h) for h in await redis.smembers(index)]
    live = 0
    if hashes:
        live = await redis.delete(*(_session_key(tenant, h) for h in hashes))
    await redis.delete(index)
    return int(live)


async def end_others(tenant: TenantRef, user_id: str, keep_session_hash: str) -> int:
    """End every session of one user but the one in use (after a password change)."""
    redis = get_redis()
    index = _index_key(tenant, user_id)
    others = [str(h) for h in await redis.smembers(index) if str(h) != keep_session_hash]
    if not others:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(*(_session_key(tenant, h) for h in others))
        pipe.srem(index, *others)
        live, _removed = await pipe.execute()
    return int(live)


async def prune(tenant: TenantRef, user_id: str) -> int:
    """Drop index entries whose session already expired; returns how many."""
    redis = get_redis()
    index = _index_key(tenant, user_id)
    hashes = [str(h) for h in await redis.smembers(index)]
    stale = [h for h in hashes if not await redis.exists(_session_key(tenant, h))]
    if stale:
        await redis.srem(index, *stale)
    return len(stale)


def session_cookie(value: str, secure: bool, max_age: int | None = None) -> Cookie:
    """Host-only (no Domain), HttpOnly, SameSite=Lax; Secure behind https."""
    return Cookie(
        key=COOKIE,
        value=value,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
        max_age=max_age,
    )
