"""Desired-state sync: what a gateway must enforce, and what it says it enforces.

`state` answers `GET /gateway/v1/state`: the full state (every subscriber the gateway serves
that the network knows) or only what changed after `since`, plus the commands waiting for it.
What a gateway serves comes from the sites named in the netstate log's entries: a delta also
carries a removal for each subscriber the gateway held that has moved to a site it does not
serve. With `wait`, the request sleeps (holding no database connection) until a change or a
command for the tenant wakes it, or the time is up.

`ack` records what the gateway applied; `app.gateways.enforcement` turns that into what each
gateway holds per subscriber.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec

from app import netstate
from app.core.config import get_settings
from app.core.i18n import _
from app.core.problems import Invalid
from app.core.timeutil import now
from app.gateways.actions import failures_of
from app.gateways.commands import commands_for
from app.gateways.credentials import GatewayCredential, verify
from app.gateways.enforcement import enforcement as enforcement
from app.gateways.schemas import AckIn, AckOut, PortalInfo, StateOut
from app.gateways.tables import GatewayAck
from app.gateways.wakeups import hub, until_disconnect
from app.subscribers.mac import normalise_mac
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope

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


# Everything an answer depends on, read in one statement (one snapshot): a change of the
# gateway's sites commits its epoch, sites and minted version together, so an answer is never
# computed with the old sites under a version that says the new ones were applied.
_HEAD = (
    "SELECT (SELECT coalesce(max(version), 0) FROM netstate_version) AS version, g.epoch,"
    " g.sites_version, ARRAY(SELECT gs.site FROM gateway_site gs WHERE gs.gateway = g.id"
    " ORDER BY gs.site) AS sites FROM gateway g WHERE g.id = $1"
)
# The latest desired entry of each subscriber changed in (floor, ceiling], as a JSON array
# built by PostgreSQL: for 10,000 subscribers about half the time of building and encoding
# the objects in Python (bench/gateway.py), and no per-row garbage in the web process. Capped
# at a version read first, so a change committed in between is left for the next answer.
# Each entry names the site the subscriber is behind with that state, so what a gateway must
# hold comes from the log alone, never from where the subscriber is now.
_LATEST = (
    "SELECT DISTINCT ON (subscriber_id) subscriber_id AS id, mac, enabled, reason,"
    " download_kbps, upload_kbps, site{held} FROM netstate_change"
    " WHERE version > $1 AND version <= $2 ORDER BY subscriber_id, version DESC"
)
_COLUMNS = "d.id, d.mac, d.enabled, d.reason, d.download_kbps, d.upload_kbps"
# A full state leaves out removals (a cancelled subscriber: disabled with no reason).
_KNOWN = "d.mac IS NOT NULL AND (d.enabled OR d.reason IS NOT NULL)"
_ALL = "SELECT coalesce(json_agg(c), '[]')::text FROM (SELECT {columns} FROM ({latest}) d{where}) c"
FULL_ALL = _ALL.format(columns=_COLUMNS, latest=_LATEST.format(held=""), where=f" WHERE {_KNOWN}")
FULL_SITES = _ALL.format(
    columns=_COLUMNS,
    latest=_LATEST.format(held=""),
    where=f" WHERE {_KNOWN} AND d.site = ANY($3::uuid[])",
)
DELTA_ALL = _ALL.format(columns=_COLUMNS, latest=_LATEST.format(held=""), where="")
# A delta for a gateway with sites: the latest entry if it is behind one of them; otherwise,
# if the network held the subscriber at one of them at some point in the window (an entry's
# `previous_site`), a removal, so a subscriber that moved away is forgotten. Nothing about
# subscribers it never held: not even their MAC reaches another site's gateway.
DELTA_SITES = _ALL.format(
    columns="d.id, CASE WHEN d.here THEN d.mac END AS mac, d.here AND d.enabled AS enabled,"
    " CASE WHEN d.here THEN d.reason END AS reason,"
    " CASE WHEN d.here THEN d.download_kbps ELSE 0 END AS download_kbps,"
    " CASE WHEN d.here THEN d.upload_kbps ELSE 0 END AS upload_kbps",
    latest=_LATEST.format(
        held=", coalesce(site = ANY($3::uuid[]), false) AS here,"
        " bool_or(coalesce(previous_site = ANY($3::uuid[]), false))"
        " OVER (PARTITION BY subscriber_id) AS held"
    ),
    where=" WHERE d.here OR d.held",
)
_EMPTY = msgspec.Raw(b"[]")


async def _answer(
    credential: GatewayCredential, since: int | None, epoch: int | None
) -> tuple[StateOut, bool]:
    """One look at the state, in one short transaction; (answer, whether it has news)."""
    async with tenant_scope(credential.tenant):
        conn = current_scope().connection
        gateway = await verify(credential)
        head = await conn.fetchrow(_HEAD, gateway["id"])
        version, sites = int(head["version"]), list(head["sites"])
        stale = epoch is not None and epoch != head["epoch"]
        # A version this cloud never reached (restored from a backup): start over, in full.
        # So does one from before the gateway's sites changed (an agent that sends no epoch).
        full = since is None or stale or since > version or since < head["sites_version"]
        floor = 0 if full else since or 0
        entries = _EMPTY
        if floor < version:
            if full:
                query = FULL_SITES if sites else FULL_ALL
            else:
                query = DELTA_SITES if sites else DELTA_ALL
            args = (floor, version, sites) if sites else (floor, version)
            entries = msgspec.Raw((await conn.fetchval(query, *args)).encode())
        commands = await commands_for(gateway["id"], sites)
        answer = StateOut(
            version=version,
            full=full,
            epoch=int(head["epoch"]),
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
        desired = int(await conn.fetchval(netstate.VERSION))
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
