from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter

from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.principal import Principal
from app.core.problems import Invalid
from app.core.roles import STAFF, Role, allow
from app.subscribers import actions, importer, plan_changes, queries
from app.subscribers.importer import ImportReport
from app.subscribers.portal_controllers import PortalController
from app.subscribers.schemas import (
    CancelSubscriberIn,
    PlanChangeIn,
    PlanChangeOut,
    PlanChangePage,
    ResumeIn,
    StatusHistory,
    SubscriberCreatedOut,
    SubscriberIn,
    SubscriberOut,
    SubscriberPage,
    SubscriberPatch,
    SuspendIn,
)
from tenants.context import on_tenant_host
from tenants.registry import TenantRef

Req = Request[Any, Any, Any]
ONE = "/{subscriber_id:str}"


class SubscriberController(Controller):
    path = "/api/v1/subscribers"
    guards = [on_tenant_host]
    tags = ["subscribers"]

    @post(
        "",
        status_code=201,
        summary="Add a subscriber; opens the installation work order",
        roles=allow(Role.MANAGER, Role.SALES),
    )
    async def create(
        self,
        idempotency: IdempotencyKey | None,
        data: SubscriberIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> SubscriberCreatedOut:
        return await actions.create_subscriber(tenant, data, actor, idempotency)

    @get("", summary="Search subscribers (q: name, email, phone, MAC), by name", roles=allow(STAFF))
    async def list_subscribers(
        self,
        tenant: TenantRef,
        q: str | None = None,
        status: str | None = None,
        plan_id: str | None = None,
        site_id: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
        cursor: str | None = None,
    ) -> SubscriberPage:
        items, next_cursor = await queries.list_subscribers(
            tenant, q=q, status=status, plan_id=plan_id, site_id=site_id, limit=limit, cursor=cursor
        )
        return SubscriberPage(items=items, next_cursor=next_cursor)

    @post(
        "/import",
        status_code=200,
        summary="Import subscribers from CSV (dry_run=true only reports)",
        description="The CSV as the request body (text/csv) or as the `file` field of a "
        "multipart form. Columns: name, email, plan, and optionally phone, address, latitude, "
        "longitude, language, status, cpe_mac, billing_start_date, external_id, site. "
        "All rows are imported or none; the dry run checks exactly what the import checks. "
        "Only a manager may import active or suspended subscribers or CPE MAC addresses. "
        "An import (not a dry run) honours `Idempotency-Key`.",
        request_max_body_size=importer.MAX_BYTES + 64 * 1024,
        roles=allow(Role.MANAGER, Role.SALES),
    )
    async def import_csv(
        self,
        idempotency: IdempotencyKey | None,
        request: Req,
        tenant: TenantRef,
        principal: Principal,
        actor: Actor,
        dry_run: bool = False,
    ) -> ImportReport:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise Invalid({"file": _("Send the CSV file.")})
            raw = await upload.read()
        else:
            raw = await request.body()
        # A retried import answers what the first one did (a dry run writes nothing to repeat).
        return await importer.run_import(
            tenant,
            raw,
            actor,
            dry_run=dry_run,
            role=principal.role,
            idempotency=None if dry_run else idempotency,
        )

    @get(ONE, summary="One subscriber", roles=allow(STAFF))
    async def get_subscriber(self, tenant: TenantRef, subscriber_id: str) -> SubscriberOut:
        return await queries.get_subscriber(tenant, subscriber_id)

    @patch(ONE, summary="Change contact and service details", roles=allow(Role.MANAGER, Role.SALES))
    async def update(
        self, tenant: TenantRef, subscriber_id: str, data: SubscriberPatch, actor: Actor
    ) -> SubscriberOut:
        return await actions.update_subscriber(tenant, subscriber_id, data, actor)

    @get(
        ONE + "/history",
        summary="Every status change: from, to, why, who, when",
        roles=allow(STAFF),
    )
    async def history(self, tenant: TenantRef, subscriber_id: str) -> StatusHistory:
        return StatusHistory(items=await queries.status_history(tenant, subscriber_id))

    @post(
        ONE + "/suspend",
        status_code=200,
        summary="Suspend (non_payment, admin, data_cap)",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def suspend(
        self,
        idempotency: IdempotencyKey | None,
        subscriber_id: str,
        data: SuspendIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> SubscriberOut:
        return await actions.suspend(tenant, subscriber_id, data, actor, idempotency)

    @post(
        ONE + "/resume",
        status_code=200,
        summary="Lift a suspension",
        roles=allow(Role.MANAGER, Role.FINANCE),
    )
    async def resume(
        self,
        idempotency: IdempotencyKey | None,
        subscriber_id: str,
        tenant: TenantRef,
        actor: Actor,
        data: ResumeIn | None = None,
    ) -> SubscriberOut:
        body = data or ResumeIn()
        return await actions.resume(tenant, subscriber_id, body, actor, idempotency)

    @post(
        ONE + "/cancel",
        status_code=200,
        summary="Cancel the subscription",
        roles=allow(Role.MANAGER, Role.SALES),
    )
    async def cancel(
        self,
        idempotency: IdempotencyKey | None,
        subscriber_id: str,
        tenant: TenantRef,
        actor: Actor,
        data: CancelSubscriberIn | None = None,
    ) -> SubscriberOut:
        body = data or CancelSubscriberIn()
        return await actions.cancel(tenant, subscriber_id, body, actor, idempotency)

    @post(
        ONE + "/plan-changes",
        status_code=201,
        summary="Change the plan from a date",
        roles=allow(Role.MANAGER, Role.SALES),
    )
    async def change_plan(
        self,
        idempotency: IdempotencyKey | None,
        subscriber_id: str,
        data: PlanChangeIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> PlanChangeOut:
        return await plan_changes.change_plan(tenant, subscriber_id, data, actor, idempotency)

    @get(
        ONE + "/plan-changes",
        summary="The subscriber's plan changes, oldest first",
        roles=allow(STAFF),
    )
    async def list_plan_changes(self, tenant: TenantRef, subscriber_id: str) -> PlanChangePage:
        return PlanChangePage(items=await plan_changes.list_plan_changes(tenant, subscriber_id))

    @post(
        ONE + "/portal-invitation",
        status_code=202,
        summary="Email the portal link again",
        roles=allow(Role.MANAGER, Role.SALES, Role.CUSTOMER_SERVICE),
    )
    async def invite(
        self,
        idempotency: IdempotencyKey | None,
        tenant: TenantRef,
        subscriber_id: str,
        actor: Actor,
    ) -> None:
        await actions.resend_invitation(tenant, subscriber_id, actor, idempotency)


HANDLERS = [SubscriberController, PortalController]
