"""Reaching sites and access points inside the tenant scope."""

from __future__ import annotations

from typing import Any

from app.core.i18n import _
from app.core.problems import NotFound
from app.network.tables import AccessPoint, Site
from app.plans.access import parse_id


async def access_site(site_id: object) -> dict[str, Any]:
    sid = parse_id(site_id)
    row: dict[str, Any] | None = None
    if sid is not None:
        row = await Site.select().where(Site.id == sid).first()
    if row is None:
        raise NotFound(_("No such site."))
    return row


async def access_access_point(ap_id: object) -> dict[str, Any]:
    aid = parse_id(ap_id)
    row: dict[str, Any] | None = None
    if aid is not None:
        row = await AccessPoint.select().where(AccessPoint.id == aid).first()
    if row is None:
        raise NotFound(_("No such access point."))
    return row


async def sites_by_name() -> dict[str, Any]:
    """Every site's id by lower-case name: for imports."""
    return {r["name"].lower(): r["id"] for r in await Site.select(Site.id, Site.name)}
