from __future__ import annotations

from litestar import Controller, delete, get, patch, post

from app.core.audit import Actor
from app.core.idempotency import IdempotencyKey
from app.core.roles import STAFF, Role, allow
from app.plans import actions
from app.plans.schemas import PlanIn, PlanOut, PlanPage, PlanPatch
from tenants.context import on_tenant_host
from tenants.registry import TenantRef


class RatePlanController(Controller):
    path = "/api/v1/rate-plans"
    guards = [on_tenant_host]
    tags = ["rate plans"]

    @post("", status_code=201, summary="Create a rate plan", roles=allow(Role.MANAGER))
    async def create(
        self, idempotency: IdempotencyKey | None, data: PlanIn, tenant: TenantRef, actor: Actor
    ) -> PlanOut:
        return await actions.create_plan(tenant, data, actor, idempotency)

    @get("", summary="List rate plans, by name", roles=allow(STAFF))
    async def list_plans(self, tenant: TenantRef, include_archived: bool = False) -> PlanPage:
        return PlanPage(items=await actions.list_plans(tenant, include_archived))

    @get("/{plan_id:str}", summary="One rate plan", roles=allow(STAFF))
    async def get_plan(self, tenant: TenantRef, plan_id: str) -> PlanOut:
        return await actions.get_plan(tenant, plan_id)

    @patch("/{plan_id:str}", summary="Change a rate plan", roles=allow(Role.MANAGER))
    async def update(
        self, tenant: TenantRef, plan_id: str, data: PlanPatch, actor: Actor
    ) -> PlanOut:
        return await actions.update_plan(tenant, plan_id, data, actor)

    @post(
        "/{plan_id:str}/archive",
        status_code=200,
        summary="Archive a rate plan",
        roles=allow(Role.MANAGER),
    )
    async def archive(self, tenant: TenantRef, plan_id: str, actor: Actor) -> PlanOut:
        return await actions.archive_plan(tenant, plan_id, actor)

    @delete(
        "/{plan_id:str}",
        status_code=204,
        summary="Delete a rate plan nobody ever had",
        roles=allow(Role.MANAGER),
    )
    async def remove(self, tenant: TenantRef, plan_id: str, actor: Actor) -> None:
        await actions.delete_plan(tenant, plan_id, actor)


HANDLERS = [RatePlanController]
