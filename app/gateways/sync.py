"""Desired-state sync: what a gateway must enforce, and what it says it enforces.

`state` answers `GET /gateway/v1/state`: the full state (every subscriber the gateway serves
that the network knows) or only what changed after `since`, filtered to the gateway's sites,
plus the commands waiting for it. With `wait`, the request sleeps (holding no database
connection) until a change or a command for the tenant wakes it, or the time is up.

`ack` records what the gateway applied. A subscriber is enforced by a gateway when the
gateway's applied version is at least the version of the subscriber's latest desired state
and the gateway reported no failure for it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec

from app.core.config import get_settings
from app.core.i18n import _
from app.core.problems import Invalid
from app.core.timeutil import now
from app.gateways.access import SUBSCRIBER_SITE, serving_gateways, site_ids
from app.gateways.actions import failures_of
from app.gateways.commands import commands_for
from app.gateways.credentials import GatewayCredential, verify
from app.gateways.schemas import (
    AckIn,
    AckOut,
    EnforcementGateway,
    EnforcementOut,
    PortalInfo,
    StateOut,
)
from app.gateways.tables import GatewayAck
from app.gateways.wakeups import hub, until_disconnect
from app.subscribers.access import access_subscriber
from app.subscribers.mac import normalise_mac
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope

_VERSION = "SELECT coalesce(max(version), 0) FROM netstate_change"
MAX_WAIT = 60
MAX_FAILURES = 1000
PAGES = {
    "non_payment": "non-payment",
    "admin": "suspended",
    "data_cap": "data-cap",
    "circuit_failure": "circuit-failure",
    "unknown": "unknown",
    "not_active": "not-active",
}


def portal_info(tenant: TenantRef) -> PortalInfo:
    base = get_settings().portal_url(tenant.slug)
    return PortalInfo(
        url=base, pages={reason: f"{base}/captive/{page}" for reason, page in PAGES.items()}
    )


# The latest desired entry of each subscriber changed in (floor, ceiling], as a JSON array
# built by PostgreSQL: for 10,000 subscribers about half the time of building and encoding
# the objects in Python (bench/gateway.py), and no per-row garbage in the web process. Capped
# at a version read first, so a change committed in between is left for the next answer.
_ENTRIES = (
    "SELECT coalesce(json_agg(c), '[]')::text FROM (SELECT DISTINCT ON (subscriber_id)"
    " subscriber_id AS id, mac, enabled, reason, download_kbps, upload_kbps"
    " FROM netstate_change WHERE version > $1 AND version <= $2"
    " ORDER BY subscriber_id, version DESC) c WHERE TRUE"
)
# A full state leaves out removals (a cancelled subscriber: disabled with no reason).
_KNOWN = " AND c.mac IS NOT NULL AND (c.enabled OR c.reason IS NOT NULL)"
_SERVED = f" AND c.id IN (SELECT s.id FROM subscriber s WHERE {SUBSCRIBER_SITE} = ANY($3))"
_EMPTY = msgspec.Raw(b"[]")


async def _answer(
    credential: GatewayCredential, since: int | None, epoch: int | None
) -> tuple[StateOut, bool]:
    """One look at the state, in one short transaction; (answer, whether it has news)."""
    async with tenant_scope(credential.tenant):
        conn = current_scope().connection
        gateway = await verify(credential)
        sites = await site_ids(gateway["id"])
        version = int(await conn.fetchval(_VERSION))
        stale = epoch is not None and epoch != gateway["epoch"]
        # A version this cloud never reached (restored from a backup): start over, in full.
        full = since is None or stale or since > version
        floor = 0 if full else since or 0
        entries = _EMPTY
        if floor < version:
            query = _ENTRIES + (_KNOWN if full else "") + (_SERVED if sites else "")
            args = (floor, version, sites) if sites else (floor, version)
            entries = msgspec.Raw((await conn.fetchval(query, *args)).encode())
        commands = await commands_for(gateway["id"], sites)
        answer = StateOut(
            version=version,
            full=full,
            epoch=int(gateway["epoch"]),
            subscribers=entries,
            portal=portal_info(credential.tenant),
            commands=commands,
        )
    news = full or version != since or bool(commands)
    return answer, news


async def state(
    credential: GatewayCredential,
    since: int | None,
    wait: int,
    epoch: int | None,
    receive: Any = None,
) -> StateOut:
    """With `receive` (the ASGI receive callable), a long poll whose client went away ends
    at once instead of holding its slot until the wait is over."""
    errors = {}
    if since is not None and since < 0:
        errors["since"] = _("Use a version of 0 or more.")
    if not 0 <= wait <= MAX_WAIT:
        errors["wait"] = _("Wait 0 to {n} seconds.").format(n=MAX_WAIT)
    if errors:
        raise Invalid(errors)
    if wait == 0:
        return (await _answer(credential, since, epoch))[0]
    deadline = time.monotonic() + wait
    gone = asyncio.ensure_future(until_disconnect(receive)) if receive is not None else None
    try:
        async with hub().listening(credential.tenant.id) as waiter:
            while True:
                waiter.arm()
                answer, news = await _answer(credential, since, epoch)
                remaining = deadline - time.monotonic()
                if news or remaining <= 0 or (gone is not None and gone.done()):
                    return answer
                await waiter.wait(remaining, gone)
    finally:
        if gone is not None:
            gone.cancel()


def _clean_failures(data: AckIn) -> list[dict[str, Any]]:
    if len(data.failures) > MAX_FAILURES:
        raise Invalid({"failures": _("Report at most {n} failures.").format(n=MAX_FAILURES)})
    out = []
    for f in data.failures:
        mac, _why = normalise_mac(f.mac) if f.mac else (None, None)
        out.append({"id": f.id, "mac": mac or f.mac[:17], "error": f.error[:300]})
    return out


async def ack(credential: GatewayCredential, data: AckIn) -> AckOut:
    """Record what the gateway applied; an older version than already recorded is ignored."""
    failures = _clean_failures(data)
    async with tenant_scope(credential.tenant):
        gateway = await verify(credential, lock=True)
        conn = current_scope().connection
        desired = int(await conn.fetchval(_VERSION))
        if data.version > desired:
            raise Invalid({"version": _("This version was never sent to the gateway.")})
        applied = int(gateway["applied_version"])
        current = failures_of(
            await conn.fetchval("SELECT failures FROM gateway WHERE id = $1", gateway["id"])
        )
        moved = data.version > applied
        if moved or (data.version == applied and failures != current):
            at = now()
            encoded = msgspec.json.encode(failures).decode()
            await conn.execute(
                "UPDATE gateway SET applied_version = $2, applied_at = $3, failures = $4::jsonb"
                " WHERE id = $1",
                gateway["id"],
                max(applied, data.version),
                at,
                encoded,
            )
            await GatewayAck.insert(
                GatewayAck(
                    id=uuid.uuid4(),
                    gateway=gateway["id"],
                    version=data.version,
                    failures=encoded,
                    received_at=at,
                )
            )
            applied = max(applied, data.version)
    return AckOut(applied_version=applied, desired_version=desired)


def _failure_for(failures: list[dict[str, Any]], subscriber_id: str, mac: str | None) -> str | None:
    for f in failures:
        if f.get("id") == subscriber_id or (mac is not None and f.get("mac") == mac):
            return str(f.get("error") or "failed")
    return None


async def enforcement(tenant: TenantRef, subscriber_id: str) -> EnforcementOut:
    async with tenant_scope(tenant):
        subscriber = await access_subscriber(subscriber_id)
        latest = await current_scope().connection.fetchrow(
            "SELECT version, mac FROM netstate_change WHERE subscriber_id = $1"
            " ORDER BY version DESC LIMIT 1",
            subscriber["id"],
        )
        gateways = await serving_gateways(subscriber["id"])
    sid = str(subscriber["id"])
    desired = int(latest["version"]) if latest else None
    mac = latest["mac"] if latest else subscriber["cpe_mac"]
    out = []
    for g in gateways:
        error = _failure_for(failures_of(g["failures"]), sid, mac)
        applied = int(g["applied_version"])
        done = (desired is None or applied >= desired) and error is None
        out.append(
            EnforcementGateway(
                gateway_id=str(g["id"]),
                name=g["name"],
                applied_version=applied,
                enforced=done,
                error=error,
            )
        )
    return EnforcementOut(
        subscriber_id=sid,
        desired_version=desired,
        enforced=bool(out) and all(g.enforced for g in out),
        gateways=out,
    )
