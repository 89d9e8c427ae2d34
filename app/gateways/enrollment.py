"""A gateway enrolls with its one-time token and rotates its secret.

The tenant comes from the token's public lookup, never from the request. The token is spent by
one conditional UPDATE (`used_at IS NULL AND revoked_at IS NULL AND expires_at > now()`):
concurrent enrollments with the same token queue on its row lock, and every one after the
first finds it spent, so exactly one wins. Enrolling replaces any earlier secret of the
gateway, so a re-flashed box re-claims its identity and the old box's secret dies with it.
"""

from __future__ import annotations

import datetime as dt

from app.core import audit
from app.core.i18n import _
from app.core.problems import Forbidden, Unauthorized
from app.core.timeutil import iso, now
from app.gateways.actions import waker
from app.gateways.credentials import (
    ROTATION_OVERLAP,
    TOKEN_PREFIX,
    GatewayCredential,
    digest,
    new_secret,
    plausible,
    verify,
)
from app.gateways.registry import GatewaySecretLookup, GatewayTokenLookup
from app.gateways.schemas import EnrollIn, EnrollOut, RotateOut
from tenants.confirmation import require_confirmed
from tenants.registry import TenantRef, tenant_by_id
from tenants.scope import current_scope, tenant_scope


def _token_refused() -> Unauthorized:
    return Unauthorized(_("This enrollment token is not valid, was already used, or expired."))


async def enroll(data: EnrollIn, host: TenantRef | None, ip: str) -> EnrollOut:
    token = data.token.strip()
    if not plausible(token, TOKEN_PREFIX):
        raise _token_refused()
    hashed = digest(token)
    lookup = (
        await GatewayTokenLookup.select().where(GatewayTokenLookup.token_hash == hashed).first()
    )
    if lookup is None:
        raise _token_refused()
    tenant = await tenant_by_id(lookup["tenant"])
    if tenant is None or (host is not None and host.id != tenant.id):
        raise _token_refused()
    if not tenant.is_active:
        raise Forbidden(_("This WISP's account is suspended. Please contact the service provider."))
    async with tenant_scope(tenant) as scope:
        # No token is issued before the owner confirms; this holds for any issued otherwise.
        await require_confirmed(tenant, "gateways")
        conn = current_scope().connection
        gateway_id = await conn.fetchval(
            "UPDATE gateway_enrollment_token SET used_at = now() WHERE token_hash = $1"
            " AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()"
            " RETURNING gateway",
            hashed,
        )
        if gateway_id is None:
            raise _token_refused()
        await GatewayTokenLookup.delete().where(GatewayTokenLookup.token_hash == hashed)
        raw, secret_hash = new_secret()
        at = now()
        row = await conn.fetchrow(
            "UPDATE gateway SET secret_hash = $2, previous_secret_hash = NULL,"
            " previous_secret_expires_at = NULL, enrolled_at = $3, revoked_at = NULL,"
            " hardware_id = $4, agent_version = $5, epoch = epoch + 1, online = true,"
            " last_seen_at = $3, last_ip = $6, offline_since = NULL, offline_alerted_at = NULL,"
            " telemetry_seq = 0, boot_id = '', wan_rx_counter = NULL, wan_tx_counter = NULL,"
            " updated_at = $3 WHERE id = $1 RETURNING id, name",
            gateway_id,
            secret_hash,
            at,
            data.hardware_id.strip()[:200],
            data.agent_version.strip()[:50],
            ip[:64],
        )
        # A re-flashed gateway re-claims its identity: whatever secret it had is dead now.
        await GatewaySecretLookup.delete().where(GatewaySecretLookup.gateway_id == gateway_id)
        await GatewaySecretLookup.insert(
            GatewaySecretLookup(secret_hash=secret_hash, tenant=tenant.id, gateway_id=gateway_id)
        )
        # The replaced box's waiting long poll wakes and meets its 401.
        scope.after_commit(waker(tenant))
        credential = GatewayCredential(tenant, gateway_id, secret_hash, ip)
        await audit.record(
            credential.actor(row["name"]),
            "gateway.enrolled",
            "gateway",
            gateway_id,
            hardware_id=data.hardware_id[:200],
            agent_version=data.agent_version[:50],
        )
    return EnrollOut(gateway_id=str(gateway_id), secret=raw, name=row["name"], tenant=tenant.slug)


async def rotate(credential: GatewayCredential) -> RotateOut:
    """A new secret; the one this call was made with keeps working for ROTATION_OVERLAP.

    Keeping the caller's secret (not necessarily the newest) as the previous one means an agent
    that lost a rotation's answer can still call in with the secret it has, and rotate again.
    """
    async with tenant_scope(credential.tenant):
        gateway = await verify(credential, lock=True)
        raw, secret_hash = new_secret()
        until: dt.datetime = now() + ROTATION_OVERLAP
        if gateway["secret_hash"] != credential.secret_hash:
            # Called with the previous secret: it keeps its deadline, never a longer one.
            until = min(until, gateway["previous_secret_expires_at"])
        await current_scope().connection.execute(
            "UPDATE gateway SET secret_hash = $2, previous_secret_hash = $3,"
            " previous_secret_expires_at = $4, updated_at = now() WHERE id = $1",
            credential.gateway_id,
            secret_hash,
            credential.secret_hash,
            until,
        )
        await GatewaySecretLookup.delete().where(
            (GatewaySecretLookup.gateway_id == credential.gateway_id)
            & (GatewaySecretLookup.secret_hash != credential.secret_hash)
        )
        await GatewaySecretLookup.update({GatewaySecretLookup.expires_at: until}).where(
            GatewaySecretLookup.secret_hash == credential.secret_hash
        )
        await GatewaySecretLookup.insert(
            GatewaySecretLookup(
                secret_hash=secret_hash, tenant=credential.tenant.id, gateway_id=gateway["id"]
            )
        )
        await audit.record(
            credential.actor(gateway["name"]), "gateway.secret_rotated", "gateway", gateway["id"]
        )
    return RotateOut(secret=raw, previous_valid_until=iso(until))
