"""Reaching gateways inside the tenant scope, and which subscribers a gateway serves.

A subscriber is behind a site when the subscriber names it, or else when its access point is
on it. A gateway with sites serves the subscribers behind them; one with none serves all.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.core.i18n import _
from app.core.problems import NotFound
from app.gateways.tables import Gateway
from app.plans.access import parse_id
from tenants.scope import current_scope

# The site a subscriber is behind (its own, else its access point's).
SUBSCRIBER_SITE = (
    "coalesce(s.site, (SELECT ap.site FROM access_point ap WHERE ap.id = s.access_point))"
)


async def access_gateway(gateway_id: object, *, for_update: bool = False) -> dict[str, Any]:
    gid = parse_id(gateway_id)
    row: dict[str, Any] | None = None
    if gid is not None:
        query = Gateway.select().where(Gateway.id == gid)
        if for_update:
            query = query.lock_rows()
        row = await query.first()
    if row is None:
        raise NotFound(_("No such gateway."))
    return row


async def site_ids(gateway_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await current_scope().connection.fetch(
        "SELECT site FROM gateway_site WHERE gateway = $1 ORDER BY site", gateway_id
    )
    return [r["site"] for r in rows]


async def sites_by_gateway(gateway_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await current_scope().connection.fetch(
        "SELECT gateway, site FROM gateway_site WHERE gateway = ANY($1::uuid[])"
        " ORDER BY gateway, site",
        gateway_ids,
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = {g: [] for g in gateway_ids}
    for r in rows:
        out[r["gateway"]].append(r["site"])
    return out


async def serves(sites: list[uuid.UUID], subscriber_id: uuid.UUID) -> bool:
    if not sites:
        return True
    return bool(
        await current_scope().connection.fetchval(
            f"SELECT {SUBSCRIBER_SITE} = ANY($2::uuid[]) FROM subscriber s WHERE s.id = $1",
            subscriber_id,
            sites,
        )
    )


async def serving_gateways(subscriber_id: uuid.UUID) -> list[dict[str, Any]]:
    """Enrolled, unrevoked gateways that serve this subscriber."""
    rows = await current_scope().connection.fetch(
        "SELECT g.id, g.name, g.applied_version, g.failures FROM gateway g"
        " WHERE g.enrolled_at IS NOT NULL AND g.revoked_at IS NULL AND ("
        " NOT EXISTS (SELECT 1 FROM gateway_site gs WHERE gs.gateway = g.id)"
        f" OR (SELECT {SUBSCRIBER_SITE} FROM subscriber s WHERE s.id = $1) IN"
        " (SELECT gs.site FROM gateway_site gs WHERE gs.gateway = g.id))"
        " ORDER BY g.name, g.id",
        subscriber_id,
    )
    return [dict(r) for r in rows]
