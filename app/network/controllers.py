from __future__ import annotations

from litestar import Controller, delete, get, patch, post

from app.core.audit import Actor
from app.core.idempotency import IdempotencyKey
from app.core.roles import STAFF, Role, allow
from app.network import actions
from app.network.schemas import (
    AccessPointIn,
    AccessPointOut,
    AccessPointPage,
    AccessPointPatch,
    SiteIn,
    SiteOut,
    SitePage,
    SitePatch,
)
from tenants.context import on_tenant_host
from tenants.registry import TenantRef


class SiteController(Controller):
    path = "/api/v1/sites"
    guards = [on_tenant_host]
    tags = ["network"]

    @post(
        "",
        status_code=201,
        summary="Add a site (tower or NOC)",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def create(
        self, idempotency: IdempotencyKey | None, data: SiteIn, tenant: TenantRef, actor: Actor
    ) -> SiteOut:
        return await actions.create_site(tenant, data, actor, idempotency)

    @get("", summary="List sites, by name", roles=allow(STAFF))
    async def list_sites(self, tenant: TenantRef) -> SitePage:
        return SitePage(items=await actions.list_sites(tenant))

    @get("/{site_id:str}", summary="One site", roles=allow(STAFF))
    async def get_site(self, tenant: TenantRef, site_id: str) -> SiteOut:
        return await actions.get_site(tenant, site_id)

    @patch("/{site_id:str}", summary="Change a site", roles=allow(Role.MANAGER, Role.TECHNICAL))
    async def update(
        self, tenant: TenantRef, site_id: str, data: SitePatch, actor: Actor
    ) -> SiteOut:
        return await actions.update_site(tenant, site_id, data, actor)

    @delete(
        "/{site_id:str}",
        status_code=204,
        summary="Delete a site with nothing on it",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def remove(self, tenant: TenantRef, site_id: str, actor: Actor) -> None:
        await actions.delete_site(tenant, site_id, actor)


class AccessPointController(Controller):
    path = "/api/v1/access-points"
    guards = [on_tenant_host]
    tags = ["network"]

    @post(
        "",
        status_code=201,
        summary="Add an access point to a site",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def create(
        self,
        idempotency: IdempotencyKey | None,
        data: AccessPointIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> AccessPointOut:
        return await actions.create_access_point(tenant, data, actor, idempotency)

    @get("", summary="List access points, by name", roles=allow(STAFF))
    async def list_access_points(
        self, tenant: TenantRef, site_id: str | None = None
    ) -> AccessPointPage:
        return AccessPointPage(items=await actions.list_access_points(tenant, site_id))

    @get("/{ap_id:str}", summary="One access point", roles=allow(STAFF))
    async def get_access_point(self, tenant: TenantRef, ap_id: str) -> AccessPointOut:
        return await actions.get_access_point(tenant, ap_id)

    @patch(
        "/{ap_id:str}", summary="Change an access point", roles=allow(Role.MANAGER, Role.TECHNICAL)
    )
    async def update(
        self, tenant: TenantRef, ap_id: str, data: AccessPointPatch, actor: Actor
    ) -> AccessPointOut:
        return await actions.update_access_point(tenant, ap_id, data, actor)

    @delete(
        "/{ap_id:str}",
        status_code=204,
        summary="Delete an unused access point",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def remove(self, tenant: TenantRef, ap_id: str, actor: Actor) -> None:
        await actions.delete_access_point(tenant, ap_id, actor)


HANDLERS = [SiteController, AccessPointController]
