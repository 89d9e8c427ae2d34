"""Gateway credentials: one-time enrollment tokens and per-gateway secrets.

Both are random (192 and 256 bits), shown once and stored as sha256 only: with that much
entropy a slow hash adds nothing. A call finds its tenant through the public lookup of the
credential's hash, then the tenant's `gateway` row is checked inside the tenant scope of the
work itself, so a revocation or rotation is in force for the very next call (nothing is
cached). After a rotation the previous secret keeps working for `ROTATION_OVERLAP`, so an
agent that lost the answer can still call in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from app.core import audit
from app.core.audit import Actor
from app.core.db import DB
from app.core.i18n import _
from app.core.logs import request_id_var
from app.core.problems import Forbidden, Unauthorized
from app.core.timeutil import now
from tenants.registry import TenantRef
from tenants.scope import current_scope

TOKEN_PREFIX = "wgt_"  # noqa: S105  (public prefixes that tell the two apart in a log or a form)
SECRET_PREFIX = "wgs_"  # noqa: S105
TOKEN_LIFETIME = dt.timedelta(hours=24)
ROTATION_OVERLAP = dt.timedelta(minutes=10)
SEEN_EVERY = dt.timedelta(seconds=15)
"""`last_seen_at` is written at most this often per gateway, so polling is not all writes."""
MAX_LENGTH = 100

_LOOKUP = (
    "SELECT l.gateway_id, l.expires_at, t.id, t.slug, t.name, t.schema_name, t.status,"
    " t.language, t.currency, t.timezone FROM public.gateway_secret_lookup l"
    " JOIN public.tenant t ON t.id = l.tenant WHERE l.secret_hash = $1"
)
GATEWAY_COLUMNS = (
    "id, name, secret_hash, previous_secret_hash, previous_secret_expires_at, revoked_at,"
    " online, last_seen_at, epoch, applied_version, telemetry_seq"
)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_enrollment_token() -> tuple[str, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(24)
    return raw, digest(raw)


def new_secret() -> tuple[str, str]:
    raw = SECRET_PREFIX + secrets.token_urlsafe(32)
    return raw, digest(raw)


def plausible(raw: str, prefix: str) -> bool:
    return raw.startswith(prefix) and len(raw) <= MAX_LENGTH and raw.isascii() and raw.isprintable()


def refused() -> Unauthorized:
    return Unauthorized(_("This gateway credential is not valid or was revoked."))


@dataclass(frozen=True, slots=True)
class GatewayCredential:
    """Who is calling, from the secret alone: verified against the gateway row in the scope."""

    tenant: TenantRef
    gateway_id: uuid.UUID
    secret_hash: str
    ip: str

    def actor(self, name: str = "") -> Actor:
        return Actor(
            type="gateway",
            id=self.gateway_id,
            label=name or f"gateway {self.gateway_id}",
            ip=self.ip,
            request_id=request_id_var.get(),
        )


def bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    raw = connection.headers.get("authorization")
    if raw is None:
        return None
    scheme, _sep, credential = raw.strip().partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else None


def host_tenant(connection: ASGIConnection[Any, Any, Any, Any]) -> TenantRef | None:
    tenant = connection.scope.get("state", {}).get("tenant")
    return tenant if isinstance(tenant, TenantRef) else None


async def credential_of(connection: ASGIConnection[Any, Any, Any, Any]) -> GatewayCredential:
    """The caller's tenant and gateway, from the public lookup of its secret's hash.

    Gateways may call the platform's base host or their own tenant's host; on any other
    tenant's host the secret is refused, as a session cookie would be.
    """
    raw = bearer(connection)
    if raw is None or not plausible(raw, SECRET_PREFIX):
        raise refused()
    hashed = digest(raw)
    assert DB.pool is not None
    async with DB.pool.acquire() as conn:
        row = await conn.fetchrow(_LOOKUP, hashed)
    if row is None or (row["expires_at"] is not None and row["expires_at"] <= now()):
        raise refused()
    tenant = TenantRef.from_row(dict(row))
    on_host = host_tenant(connection)
    if on_host is not None and on_host.id != tenant.id:
        raise refused()
    if not tenant.is_active:
        raise Forbidden(_("This WISP's account is suspended. Please contact the service provider."))
    client = connection.scope.get("client")
    return GatewayCredential(
        tenant=tenant,
        gateway_id=row["gateway_id"],
        secret_hash=hashed,
        ip=str(client[0]) if client else "",
    )


def _matches(row: Any, hashed: str, at: dt.datetime) -> bool:
    current = row["secret_hash"]
    if current is not None and hmac.compare_digest(current, hashed):
        return True
    previous, until = row["previous_secret_hash"], row["previous_secret_expires_at"]
    return (
        previous is not None
        and until is not None
        and until > at
        and hmac.compare_digest(previous, hashed)
    )


async def verify(credential: GatewayCredential, *, lock: bool = False) -> dict[str, Any]:
    """The caller's gateway row, inside the tenant scope; 401 unless its secret is live.

    Also keeps `last_seen_at` (at most every SEEN_EVERY) and brings an offline gateway back
    online at once.
    """
    conn = current_scope().connection
    query = f"SELECT {GATEWAY_COLUMNS} FROM gateway WHERE id = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(query, credential.gateway_id)
    at = now()
    if (
        row is None
        or row["revoked_at"] is not None
        or not _matches(row, credential.secret_hash, at)
    ):
        raise refused()
    seen = row["last_seen_at"]
    if not row["online"] or seen is None or at - seen >= SEEN_EVERY:
        await conn.execute(
            "UPDATE gateway SET last_seen_at = $2, last_ip = $3, online = true,"
            " offline_since = NULL, offline_alerted_at = NULL WHERE id = $1",
            credential.gateway_id,
            at,
            credential.ip[:64],
        )
        if not row["online"] and seen is not None:
            await audit.record(
                credential.actor(row["name"]), "gateway.online", "gateway", row["id"]
            )
    return dict(row)
