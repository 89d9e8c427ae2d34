"""Per subscriber, what each gateway must do about it and whether it has done it.

What a gateway holds is known exactly from the netstate log: once it has acknowledged version
A, it holds each subscriber whose latest entry at or below A is not a removal and is behind one
of the sites the gateway served at A (`gateway_site_set`; a gateway with no sites serves every
site). So, for each enrolled, unrevoked gateway:

- `enforce`: it serves the site of the subscriber's latest entry, which is not a removal. Done
  when the gateway has acknowledged that entry's version and its own current sites, and
  reported no failure for the subscriber.
- `forget`: it must not hold the subscriber, and the state it acknowledged still holds it, or
  the subscriber was once held at one of the gateway's sites (so staff see that a gateway the
  subscriber left has let it go). Done when the state it acknowledged no longer holds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from app.gateways.access import serving_gateways
from app.gateways.actions import failures_of
from app.gateways.schemas import EnforcementGateway, EnforcementOut
from app.netstate import held
from app.subscribers.access import access_subscriber
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope

_LATEST = (
    "SELECT version, mac, enabled, reason, site FROM netstate_change WHERE subscriber_id = $1"
    " ORDER BY version DESC LIMIT 1"
)
# Every site the network ever held the subscriber at.
_HELD_AT = (
    "SELECT DISTINCT site FROM netstate_change WHERE subscriber_id = $1"
    " AND mac IS NOT NULL AND (enabled OR reason IS NOT NULL)"
)
# Each gateway with its sites now, the sites in force at the version it acknowledged, and the
# subscriber's entry at that version (what it holds).
_GATEWAYS = (
    "SELECT g.id, g.name, g.applied_version, g.failures, g.sites_version,"
    " ARRAY(SELECT gs.site FROM gateway_site gs WHERE gs.gateway = g.id) AS sites,"
    " (SELECT h.site_ids FROM gateway_site_set h WHERE h.gateway = g.id"
    " AND h.version <= g.applied_version ORDER BY h.version DESC LIMIT 1) AS applied_sites,"
    " a.mac, a.enabled, a.reason, a.site FROM gateway g LEFT JOIN LATERAL (SELECT c.mac,"
    " c.enabled, c.reason, c.site FROM netstate_change c WHERE c.subscriber_id = $1"
    " AND c.version <= g.applied_version ORDER BY c.version DESC LIMIT 1) a ON TRUE"
    " WHERE g.enrolled_at IS NOT NULL AND g.revoked_at IS NULL ORDER BY g.name, g.id"
)


def _failure_for(failures: list[dict[str, Any]], subscriber_id: str, mac: str | None) -> str | None:
    for f in failures:
        if f.get("id") == subscriber_id or (mac is not None and f.get("mac") == mac):
            return str(f.get("error") or "failed")
    return None


def _serves(sites: set[str], site: object) -> bool:
    return not sites or (site is not None and str(site) in sites)


def _site_set(raw: Any) -> set[str] | None:
    if raw is None:
        return None
    value = json.loads(raw) if isinstance(raw, str) else raw
    return {str(s) for s in value}


def _gateway(
    g: Mapping[str, Any], latest: Mapping[str, Any], held_at: set[object], sid: str
) -> EnforcementGateway | None:
    sites = {str(s) for s in g["sites"]}
    applied = int(g["applied_version"])
    applied_sites = _site_set(g["applied_sites"])
    holds = held(g) and _serves(sites if applied_sites is None else applied_sites, g["site"])
    action: Literal["enforce", "forget"]
    if held(latest) and _serves(sites, latest["site"]):
        error = _failure_for(failures_of(g["failures"]), sid, latest["mac"])
        done = applied >= max(int(latest["version"]), int(g["sites_version"])) and error is None
        action = "enforce"
    elif holds or any(_serves(sites, site) for site in held_at):
        error, done, action = None, not holds, "forget"
    else:
        return None  # never had it, and must not
    return EnforcementGateway(
        gateway_id=str(g["id"]),
        name=g["name"],
        applied_version=applied,
        enforced=done,
        error=error,
        action=action,
        holds=holds,
    )


async def _never_sent(subscriber: Mapping[str, Any]) -> EnforcementOut:
    """A subscriber the network has never been told about: the gateways serving its site."""
    sid = str(subscriber["id"])
    out = []
    for g in await serving_gateways(subscriber["id"]):
        error = _failure_for(failures_of(g["failures"]), sid, subscriber["cpe_mac"])
        out.append(
            EnforcementGateway(
                gateway_id=str(g["id"]),
                name=g["name"],
                applied_version=int(g["applied_version"]),
                enforced=error is None,
                error=error,
            )
        )
    return EnforcementOut(
        subscriber_id=sid,
        desired_version=None,
        enforced=bool(out) and all(g.enforced for g in out),
        gateways=out,
    )


async def enforcement(tenant: TenantRef, subscriber_id: str) -> EnforcementOut:
    async with tenant_scope(tenant):
        conn = current_scope().connection
        subscriber = await access_subscriber(subscriber_id)
        latest = await conn.fetchrow(_LATEST, subscriber["id"])
        if latest is None:
            return await _never_sent(subscriber)
        held_at = {r["site"] for r in await conn.fetch(_HELD_AT, subscriber["id"])}
        rows = await conn.fetch(_GATEWAYS, subscriber["id"])
    sid = str(subscriber["id"])
    out = [g for g in (_gateway(r, latest, held_at, sid) for r in rows) if g is not None]
    # Someone must enforce a state the network should hold; a removal only needs forgetting.
    someone = not held(latest) or any(g.action == "enforce" for g in out)
    return EnforcementOut(
        subscriber_id=sid,
        desired_version=int(latest["version"]),
        enforced=bool(out) and someone and all(g.enforced for g in out),
        gateways=out,
    )
