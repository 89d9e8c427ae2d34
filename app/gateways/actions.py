"""Staff actions on gateways: create, change, list, enrollment tokens, revoke.

Enrollment tokens are written twice in one transaction: the tenant's row (the authority, with
its history) and the public lookup that lets `/gateway/v1/enroll` find the tenant from the
token alone. Revoking deletes the lookups in the same transaction, so it is in force at once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from app import netstate
from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Invalid, NotFound
from app.core.timeutil import iso, now
from app.gateways import wakeups
from app.gateways.access import access_gateway, site_ids, sites_by_gateway
from app.gateways.credentials import TOKEN_LIFETIME, new_enrollment_token
from app.gateways.registry import GatewaySecretLookup, GatewayTokenLookup
from app.gateways.schemas import (
    EnrollmentTokenOut,
    Failure,
    GatewayCreated,
    GatewayIn,
    GatewayOut,
    GatewayPatch,
    SampleOut,
)
from app.gateways.tables import Gateway, GatewayEnrollmentToken, GatewaySite, GatewaySiteSet
from app.network.access import access_site
from tenants.confirmation import require_confirmed
from tenants.registry import TenantRef
from tenants.scope import Scope, current_scope, tenant_scope

MAX_SITES = 500


def _opt_iso(value: Any) -> str | None:
    return iso(value) if value is not None else None


def sample_out(row: Any) -> SampleOut:
    return SampleOut(
        seq=int(row["seq"]),
        ts=iso(row["ts"]),
        interval_s=round(float(row["interval_s"]), 3),
        rx_bytes=int(row["rx_bytes"]),
        tx_bytes=int(row["tx_bytes"]),
        rx_bps=int(row["rx_bps"]),
        tx_bps=int(row["tx_bps"]),
        users_authenticated=int(row["users_authenticated"]),
        users_connected=int(row["users_connected"]),
        cpu_percent=round(float(row["cpu_percent"]), 2),
        mem_percent=round(float(row["mem_percent"]), 2),
        gap_before=int(row["gap_before"]),
        counter_reset=bool(row["counter_reset"]),
    )


def failures_of(raw: Any) -> list[dict[str, Any]]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return list(value or [])


def _status(row: dict[str, Any]) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    if row["enrolled_at"] is None:
        return "pending"
    return "online" if row["online"] else "offline"


async def gateway_out(row: dict[str, Any], sites: list[uuid.UUID]) -> GatewayOut:
    """The staff view of one gateway (inside the scope)."""
    conn = current_scope().connection
    desired = int(await conn.fetchval(netstate.VERSION))
    applied = int(row["applied_version"])
    oldest = None
    if applied < desired:
        oldest = await conn.fetchval(
            "SELECT min(occurred_at) FROM netstate_change WHERE version > $1", applied
        )
    expires = await conn.fetchval(
        "SELECT expires_at FROM gateway_enrollment_token"
        " WHERE gateway = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()",
        row["id"],
    )
    latest = await conn.fetchrow(
        "SELECT * FROM gateway_sample WHERE gateway = $1 ORDER BY ts DESC, seq DESC LIMIT 1",
        row["id"],
    )
    return GatewayOut(
        id=str(row["id"]),
        name=row["name"],
        site_ids=[str(s) for s in sites],
        status=_status(row),
        created_at=iso(row["created_at"]),
        enrolled_at=_opt_iso(row["enrolled_at"]),
        hardware_id=row["hardware_id"],
        agent_version=row["agent_version"],
        last_seen_at=_opt_iso(row["last_seen_at"]),
        offline_since=_opt_iso(row["offline_since"]),
        desired_version=desired,
        applied_version=applied,
        lag_versions=max(0, desired - applied),
        lag_seconds=round(max(0.0, (now() - oldest).total_seconds()), 3) if oldest else 0.0,
        failures=[msgspec.convert(f, Failure) for f in failures_of(row["failures"])],
        enrollment_expires_at=_opt_iso(expires),
        telemetry_gaps=int(row["telemetry_gaps"]),
        circuit_ok=bool(row["circuit_ok"]),
        latest_sample=sample_out(latest) if latest else None,
    )


def waker(tenant: TenantRef) -> Callable[[], Awaitable[None]]:
    async def wake() -> None:
        await wakeups.poke(tenant.id)

    return wake


def _clean_name(name: str, errors: dict[str, str]) -> str:
    clean = name.strip()
    if not 1 <= len(clean) <= 100:
        errors["name"] = _("Use 1 to 100 characters.")
    return clean


async def _clean_sites(raw: list[str]) -> list[uuid.UUID]:
    if len(raw) > MAX_SITES:
        raise Invalid({"site_ids": _("Name at most {n} sites.").format(n=MAX_SITES)})
    out: list[uuid.UUID] = []
    for value in raw:
        try:
            site = await access_site(value)
        except NotFound:
            raise Invalid({"site_ids": _("No such site: {id}.").format(id=value[:40])}) from None
        if site["id"] not in out:
            out.append(site["id"])
    return out


async def _set_sites(gateway_id: uuid.UUID, sites: list[uuid.UUID], version: int) -> None:
    """The gateway's sites, and the set kept as in force from netstate `version` on."""
    await GatewaySite.delete().where(GatewaySite.gateway == gateway_id)
    for site in sites:
        await GatewaySite.insert(GatewaySite(id=uuid.uuid4(), gateway=gateway_id, site=site))
    await GatewaySiteSet.insert(
        GatewaySiteSet(
            id=uuid.uuid4(),
            gateway=gateway_id,
            version=version,
            site_ids=[str(s) for s in sites],
            created_at=now(),
        )
    )


async def _end_live_tokens(gateway_id: uuid.UUID) -> int:
    """Revoke the gateway's unused tokens and drop their public lookups."""
    rows = await current_scope().connection.fetch(
        "UPDATE gateway_enrollment_token SET revoked_at = now()"
        " WHERE gateway = $1 AND used_at IS NULL AND revoked_at IS NULL RETURNING token_hash",
        gateway_id,
    )
    hashes = [r["token_hash"] for r in rows]
    if hashes:
        await GatewayTokenLookup.delete().where(GatewayTokenLookup.token_hash.is_in(hashes))
    return len(hashes)


async def _issue_token(
    scope: Scope, gateway_id: uuid.UUID, actor: Actor
) -> tuple[str, dt.datetime]:
    await _end_live_tokens(gateway_id)
    raw, hashed = new_enrollment_token()
    created = now()
    expires = created + TOKEN_LIFETIME
    await GatewayEnrollmentToken.insert(
        GatewayEnrollmentToken(
            id=uuid.uuid4(),
            gateway=gateway_id,
            token_hash=hashed,
            created_at=created,
            expires_at=expires,
            created_by=actor.id,
        )
    )
    await GatewayTokenLookup.insert(
        GatewayTokenLookup(
            token_hash=hashed, tenant=scope.tenant.id, gateway_id=gateway_id, expires_at=expires
        )
    )
    return raw, expires


async def create_gateway(
    tenant: TenantRef, data: GatewayIn, actor: Actor, idempotency: IdempotencyKey | None
) -> GatewayCreated:
    errors: dict[str, str] = {}
    name = _clean_name(data.name, errors)
    if errors:
        raise Invalid(errors)
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, GatewayCreated)
        await require_confirmed(tenant, "gateways")
        sites = await _clean_sites(data.site_ids)
        gateway_id, at = uuid.uuid4(), now()
        await Gateway.insert(
            Gateway(id=gateway_id, name=name, created_at=at, updated_at=at, created_by=actor.id)
        )
        await _set_sites(gateway_id, sites, 0)  # it has acknowledged nothing yet
        raw, expires = await _issue_token(scope, gateway_id, actor)
        await audit.record(
            actor,
            "gateway.created",
            "gateway",
            gateway_id,
            name=name,
            site_ids=[str(s) for s in sites],
        )
        view = await gateway_out(await access_gateway(gateway_id), sites)
        out = GatewayCreated(
            **msgspec.structs.asdict(view), enrollment_token=None, expires_at=iso(expires)
        )
        # The stored answer (for a replayed Idempotency-Key) never holds the token.
        await scope.remember(out)
    return msgspec.structs.replace(out, enrollment_token=raw)


async def update_gateway(
    tenant: TenantRef, gateway_id: str, data: GatewayPatch, actor: Actor
) -> GatewayOut:
    errors: dict[str, str] = {}
    name = _clean_name(data.name, errors) if isinstance(data.name, str) else None
    if errors:
        raise Invalid(errors)
    async with tenant_scope(tenant) as scope:
        row = await access_gateway(gateway_id, for_update=True)
        changes: dict[Any, Any] = {Gateway.updated_at: now()}
        logged: dict[str, Any] = {}
        if name is not None and name != row["name"]:
            changes[Gateway.name] = logged["name"] = name
        if isinstance(data.site_ids, list):
            sites = await _clean_sites(data.site_ids)
            if sorted(sites) != await site_ids(row["id"]):
                # What it serves changed: a new version (so the cloud knows when the gateway
                # has applied it), and its next answer must be full, not a delta.
                version = await netstate.mint()
                await _set_sites(row["id"], sites, version)
                changes[Gateway.epoch] = row["epoch"] + 1
                changes[Gateway.sites_version] = version
                logged["site_ids"] = [str(s) for s in sites]
                scope.after_commit(waker(tenant))
        if logged:
            await Gateway.update(changes).where(Gateway.id == row["id"])
            await audit.record(actor, "gateway.updated", "gateway", row["id"], **logged)
        return await gateway_out(await access_gateway(row["id"]), await site_ids(row["id"]))


async def get_gateway(tenant: TenantRef, gateway_id: str) -> GatewayOut:
    async with tenant_scope(tenant):
        row = await access_gateway(gateway_id)
        return await gateway_out(row, await site_ids(row["id"]))


async def list_gateways(tenant: TenantRef) -> list[GatewayOut]:
    async with tenant_scope(tenant):
        rows = await Gateway.select().order_by(Gateway.name).order_by(Gateway.id)
        sites = await sites_by_gateway([r["id"] for r in rows])
        return [await gateway_out(r, sites[r["id"]]) for r in rows]


async def issue_token(
    tenant: TenantRef, gateway_id: str, actor: Actor, idempotency: IdempotencyKey | None
) -> EnrollmentTokenOut:
    """A new token (the previous unused one dies): to enroll a re-flashed or replaced box."""
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, EnrollmentTokenOut)
        row = await access_gateway(gateway_id, for_update=True)
        await require_confirmed(tenant, "gateways")
        raw, expires = await _issue_token(scope, row["id"], actor)
        await audit.record(actor, "gateway.token_issued", "gateway", row["id"])
        out = EnrollmentTokenOut(
            gateway_id=str(row["id"]), enrollment_token=None, expires_at=iso(expires)
        )
        await scope.remember(out)
    return msgspec.structs.replace(out, enrollment_token=raw)


async def revoke_token(tenant: TenantRef, gateway_id: str, actor: Actor) -> None:
    async with tenant_scope(tenant):
        row = await access_gateway(gateway_id, for_update=True)
        if await _end_live_tokens(row["id"]):
            await audit.record(actor, "gateway.token_revoked", "gateway", row["id"])


async def revoke_gateway(tenant: TenantRef, gateway_id: str, actor: Actor) -> GatewayOut:
    """End the gateway's credential now (and any unused token). A new token can enroll the
    same gateway again later."""
    async with tenant_scope(tenant) as scope:
        row = await access_gateway(gateway_id, for_update=True)
        await _end_live_tokens(row["id"])
        # A long poll waiting right now wakes, re-checks the secret, and gets its 401.
        scope.after_commit(waker(tenant))
        await GatewaySecretLookup.delete().where(GatewaySecretLookup.gateway_id == row["id"])
        if row["revoked_at"] is None:
            at = now()
            await Gateway.update(
                {
                    Gateway.revoked_at: at,
                    Gateway.secret_hash: None,
                    Gateway.previous_secret_hash: None,
                    Gateway.previous_secret_expires_at: None,
                    Gateway.online: False,
                    Gateway.updated_at: at,
                }
            ).where(Gateway.id == row["id"])
            await audit.record(actor, "gateway.revoked", "gateway", row["id"], name=row["name"])
        return await gateway_out(await access_gateway(row["id"]), await site_ids(row["id"]))


async def list_samples(
    tenant: TenantRef, gateway_id: str, since: dt.datetime | None, limit: int
) -> list[SampleOut]:
    """Newest first, for the monitoring graphs."""
    async with tenant_scope(tenant):
        row = await access_gateway(gateway_id)
        rows = await current_scope().connection.fetch(
            "SELECT * FROM gateway_sample WHERE gateway = $1 AND ($2::timestamptz IS NULL"
            " OR ts >= $2) ORDER BY ts DESC, seq DESC LIMIT $3",
            row["id"],
            since,
            limit,
        )
    return [sample_out(r) for r in rows]
