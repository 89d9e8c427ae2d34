"""Sites and access points (manager, technical): one transaction each, audited."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from app import audit, netstate
from app.audit import Actor
from app.i18n import _
from app.idempotency import IdempotencyKey
from app.network.access import access_access_point, access_site
from app.network.schemas import (
    AccessPointIn,
    AccessPointOut,
    AccessPointPatch,
    SiteIn,
    SiteOut,
    SitePatch,
)
from app.network.tables import AccessPoint, Site
from app.problems import Conflict, Invalid, NotFound
from app.subscribers.tables import Subscriber
from app.timeutil import iso, now
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

SITE_KINDS = ("tower", "noc")


def _coordinate(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def site_out(row: dict[str, Any]) -> SiteOut:
    return SiteOut(
        id=str(row["id"]),
        name=row["name"],
        kind=row["kind"],
        latitude=_coordinate(row["latitude"]),
        longitude=_coordinate(row["longitude"]),
        address=row["address"],
        notes=row["notes"],
        created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]),
    )


def access_point_out(row: dict[str, Any]) -> AccessPointOut:
    return AccessPointOut(
        id=str(row["id"]),
        site_id=str(row["site"]),
        name=row["name"],
        frequency_mhz=row["frequency_mhz"],
        ssid=row["ssid"],
        created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]),
    )


def clean_coordinates(
    latitude: Any, longitude: Any, errors: dict[str, str]
) -> tuple[Decimal | None, Decimal | None]:
    """Both or neither; degrees within range; kept to six decimals (about 11 cm)."""
    if latitude is None and longitude is None:
        return None, None
    if latitude is None or longitude is None:
        errors["latitude" if latitude is None else "longitude"] = _(
            "Give both latitude and longitude, or neither."
        )
        return None, None
    lat, lon = Decimal(str(latitude)), Decimal(str(longitude))
    if not lat.is_finite() or not -90 <= lat <= 90:
        errors["latitude"] = _("Use degrees from -90 to 90.")
    if not lon.is_finite() or not -180 <= lon <= 180:
        errors["longitude"] = _("Use degrees from -180 to 180.")
    quantum = Decimal("0.000001")
    if "latitude" in errors or "longitude" in errors:
        return None, None
    return lat.quantize(quantum), lon.quantize(quantum)


def _clean_site(raw: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = str(raw["name"]).strip()
    if not 1 <= len(name) <= 120:
        errors["name"] = _("Use 1 to 120 characters.")
    if raw["kind"] not in SITE_KINDS:
        errors["kind"] = _("Choose tower or noc.")
    lat, lon = clean_coordinates(raw["latitude"], raw["longitude"], errors)
    address = str(raw["address"]).strip()
    if len(address) > 300:
        errors["address"] = _("Use at most 300 characters.")
    if len(raw["notes"]) > 5000:
        errors["notes"] = _("Use at most 5000 characters.")
    if errors:
        raise Invalid(errors)
    return {
        "name": name,
        "kind": raw["kind"],
        "latitude": lat,
        "longitude": lon,
        "address": address,
        "notes": raw["notes"],
    }


async def _site_name_free(name: str, except_id: uuid.UUID | None = None) -> None:
    query = Site.exists().where(WhereRaw("lower(name) = lower({})", name))
    if except_id is not None:
        query = query.where(Site.id != except_id)
    if await query:
        raise Conflict(_("A site with this name already exists."), field="name")


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal | uuid.UUID) else v) for k, v in values.items()}


async def create_site(
    tenant: TenantRef, data: SiteIn, actor: Actor, idempotency: IdempotencyKey | None = None
) -> SiteOut:
    clean = _clean_site(msgspec.structs.asdict(data))
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, SiteOut)
        await _site_name_free(clean["name"])
        site_id, at = uuid.uuid4(), now()
        await Site.insert(Site(id=site_id, created_at=at, updated_at=at, **clean))
        await audit.record(actor, "site.create", "site", site_id, **_jsonable(clean))
        out = site_out(await access_site(site_id))
        await scope.remember(msgspec.to_builtins(out))
    return out


async def update_site(tenant: TenantRef, site_id: str, data: SitePatch, actor: Actor) -> SiteOut:
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    async with tenant_scope(tenant):
        row = await access_site(site_id)
        clean = _clean_site({**row, **changes})
        changed: dict[Any, Any] = {k: v for k, v in clean.items() if row[k] != v}
        if changed:
            if "name" in changed:
                await _site_name_free(clean["name"], row["id"])
            await Site.update({**changed, "updated_at": now()}).where(Site.id == row["id"])
            await audit.record(actor, "site.update", "site", row["id"], **_jsonable(changed))
        return site_out(await access_site(row["id"]))


async def delete_site(tenant: TenantRef, site_id: str, actor: Actor) -> None:
    async with tenant_scope(tenant) as scope:
        row = await access_site(site_id)
        if await AccessPoint.exists().where(AccessPoint.site == row["id"]) or (
            await Subscriber.exists().where(Subscriber.site == row["id"])
        ):
            raise Conflict(_("This site still has access points or subscribers."))
        # Removing a gateway's last site would silently widen it to every subscriber.
        if await scope.connection.fetchval(
            "SELECT 1 FROM gateway_site WHERE site = $1 LIMIT 1", row["id"]
        ):
            raise Conflict(_("A gateway serves this site: change the gateway's sites first."))
        await Site.delete().where(Site.id == row["id"])
        await audit.record(actor, "site.delete", "site", row["id"], name=row["name"])


async def list_sites(tenant: TenantRef) -> list[SiteOut]:
    async with tenant_scope(tenant):
        rows = await Site.select().order_by(Site.name).order_by(Site.id)
        return [site_out(r) for r in rows]


async def get_site(tenant: TenantRef, site_id: str) -> SiteOut:
    async with tenant_scope(tenant):
        return site_out(await access_site(site_id))


async def _clean_access_point(raw: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = str(raw["name"]).strip()
    if not 1 <= len(name) <= 120:
        errors["name"] = _("Use 1 to 120 characters.")
    frequency = raw["frequency_mhz"]
    if not 100 <= frequency <= 100_000:
        errors["frequency_mhz"] = _("Use a frequency in MHz from 100 to 100000.")
    ssid = str(raw["ssid"])
    if len(ssid.encode()) > 32:
        errors["ssid"] = _("An SSID has at most 32 bytes.")
    site: dict[str, Any] | None = None
    try:
        site = await access_site(raw["site_id"])
    except NotFound:
        errors["site_id"] = _("No such site.")
    if errors:
        raise Invalid(errors)
    assert site is not None
    return {"site": site["id"], "name": name, "frequency_mhz": frequency, "ssid": ssid}


async def create_access_point(
    tenant: TenantRef,
    data: AccessPointIn,
    actor: Actor,
    idempotency: IdempotencyKey | None = None,
) -> AccessPointOut:
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, AccessPointOut)
        clean = await _clean_access_point(msgspec.structs.asdict(data))
        await _ap_name_free(clean["site"], clean["name"])
        ap_id, at = uuid.uuid4(), now()
        await AccessPoint.insert(AccessPoint(id=ap_id, created_at=at, updated_at=at, **clean))
        await audit.record(actor, "access_point.create", "access_point", ap_id, **_jsonable(clean))
        out = access_point_out(await access_access_point(ap_id))
        await scope.remember(msgspec.to_builtins(out))
    return out


async def _ap_name_free(site_id: uuid.UUID, name: str, except_id: uuid.UUID | None = None) -> None:
    query = AccessPoint.exists().where(
        AccessPoint.site == site_id, WhereRaw("lower(name) = lower({})", name)
    )
    if except_id is not None:
        query = query.where(AccessPoint.id != except_id)
    if await query:
        raise Conflict(_("This site already has an access point with this name."), field="name")


async def update_access_point(
    tenant: TenantRef, ap_id: str, data: AccessPointPatch, actor: Actor
) -> AccessPointOut:
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    async with tenant_scope(tenant) as scope:
        row = await access_access_point(ap_id)
        clean = await _clean_access_point({**row, "site_id": row["site"], **changes})
        changed: dict[Any, Any] = {k: v for k, v in clean.items() if row[k] != v}
        if changed:
            if "name" in changed or "site" in changed:
                await _ap_name_free(clean["site"], clean["name"], row["id"])
            await AccessPoint.update({**changed, "updated_at": now()}).where(
                AccessPoint.id == row["id"]
            )
            if "site" in changed:
                # A subscriber's site follows the access point its CPE connects to, and so do
                # the gateways that hold it (rows locked in id order: two moves never deadlock).
                moved = await scope.connection.fetch(
                    "SELECT id FROM subscriber WHERE access_point = $1 ORDER BY id FOR UPDATE",
                    row["id"],
                )
                await Subscriber.update({Subscriber.site: clean["site"]}).where(
                    Subscriber.access_point == row["id"]
                )
                await netstate.follow([r["id"] for r in moved])
            await audit.record(
                actor, "access_point.update", "access_point", row["id"], **_jsonable(changed)
            )
        return access_point_out(await access_access_point(row["id"]))


async def delete_access_point(tenant: TenantRef, ap_id: str, actor: Actor) -> None:
    from app.workorders.tables import WorkOrder

    async with tenant_scope(tenant):
        row = await access_access_point(ap_id)
        if await Subscriber.exists().where(Subscriber.access_point == row["id"]) or (
            await WorkOrder.exists().where(WorkOrder.access_point == row["id"])
        ):
            raise Conflict(_("Subscribers or work orders still use this access point."))
        await AccessPoint.delete().where(AccessPoint.id == row["id"])
        await audit.record(
            actor, "access_point.delete", "access_point", row["id"], name=row["name"]
        )


async def list_access_points(tenant: TenantRef, site_id: str | None = None) -> list[AccessPointOut]:
    async with tenant_scope(tenant):
        query = AccessPoint.select().order_by(AccessPoint.name).order_by(AccessPoint.id)
        if site_id is not None:
            site = await access_site(site_id)
            query = query.where(AccessPoint.site == site["id"])
        return [access_point_out(r) for r in await query]


async def get_access_point(tenant: TenantRef, ap_id: str) -> AccessPointOut:
    async with tenant_scope(tenant):
        return access_point_out(await access_access_point(ap_id))
