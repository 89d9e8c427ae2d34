from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Invalid
from app.core.roles import Role, allow
from app.workorders import actions, attachments
from app.workorders.schemas import (
    AuthenticateCpeIn,
    CancelIn,
    NoteIn,
    NoteOut,
    NotePage,
    PhotoOut,
    PhotoPage,
    ScheduleIn,
    SignOffIn,
    StepIn,
    WorkOrderIn,
    WorkOrderOut,
    WorkOrderPage,
)
from tenants.context import on_tenant_host
from tenants.registry import TenantRef

Req = Request[Any, Any, Any]
WO = "/{work_order_id:str}"


class WorkOrderController(Controller):
    path = "/api/v1/work-orders"
    guards = [on_tenant_host]
    tags = ["work orders"]

    @post(
        "",
        status_code=201,
        summary="Open a repair, maintenance, removal or installation visit",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def create(
        self, idempotency: IdempotencyKey | None, data: WorkOrderIn, tenant: TenantRef, actor: Actor
    ) -> WorkOrderOut:
        return await actions.create_work_order(tenant, data, actor, idempotency)

    @get(
        "",
        summary="List work orders, newest first",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def list_work_orders(
        self,
        tenant: TenantRef,
        subscriber_id: str | None = None,
        status: str | None = None,
        technician_id: str | None = None,
        kind: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
        cursor: str | None = None,
    ) -> WorkOrderPage:
        items, next_cursor = await actions.list_work_orders(
            tenant,
            subscriber_id=subscriber_id,
            status=status,
            technician_id=technician_id,
            kind=kind,
            limit=limit,
            cursor=cursor,
        )
        return WorkOrderPage(items=items, next_cursor=next_cursor)

    @get(WO, summary="One work order", roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL))
    async def get_work_order(self, tenant: TenantRef, work_order_id: str) -> WorkOrderOut:
        return await actions.get_work_order(tenant, work_order_id)

    @post(
        WO + "/schedule",
        status_code=200,
        summary="Schedule the visit (and its technician)",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def schedule(
        self,
        idempotency: IdempotencyKey | None,
        work_order_id: str,
        data: ScheduleIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> WorkOrderOut:
        return await actions.schedule(tenant, work_order_id, data, actor, idempotency)

    @post(
        WO + "/start",
        status_code=200,
        summary="The technician starts on site",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def start(
        self,
        idempotency: IdempotencyKey | None,
        work_order_id: str,
        tenant: TenantRef,
        actor: Actor,
        data: StepIn | None = None,
    ) -> WorkOrderOut:
        body = data or StepIn()
        return await actions.start(tenant, work_order_id, body, actor, idempotency)

    @post(
        WO + "/authenticate-cpe",
        status_code=200,
        summary="Record the CPE radio's MAC",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def authenticate_cpe(
        self,
        idempotency: IdempotencyKey | None,
        work_order_id: str,
        data: AuthenticateCpeIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> WorkOrderOut:
        return await actions.authenticate_cpe(tenant, work_order_id, data, actor, idempotency)

    @post(
        WO + "/activate",
        status_code=200,
        summary="Activate the subscriber; billing starts",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def activate(
        self,
        idempotency: IdempotencyKey | None,
        work_order_id: str,
        tenant: TenantRef,
        actor: Actor,
        data: StepIn | None = None,
    ) -> WorkOrderOut:
        body = data or StepIn()
        return await actions.activate(tenant, work_order_id, body, actor, idempotency)

    @post(
        WO + "/sign-off",
        status_code=200,
        summary="The subscriber signs the visit off",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def sign_off(
        self,
        idempotency: IdempotencyKey | None,
        work_order_id: str,
        data: SignOffIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> WorkOrderOut:
        return await actions.sign_off(tenant, work_order_id, data, actor, idempotency)

    @post(
        WO + "/cancel",
        status_code=200,
        summary="Cancel a visit that has not activated",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def cancel(
        self,
        idempotency: IdempotencyKey | None,
        work_order_id: str,
        tenant: TenantRef,
        actor: Actor,
        data: CancelIn | None = None,
    ) -> WorkOrderOut:
        body = data or CancelIn()
        return await actions.cancel(tenant, work_order_id, body, actor, idempotency)

    @post(
        WO + "/notes",
        status_code=201,
        summary="Add a note",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def add_note(
        self,
        idempotency: IdempotencyKey | None,
        work_order_id: str,
        data: NoteIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> NoteOut:
        return await attachments.add_note(tenant, work_order_id, data, actor, idempotency)

    @get(
        WO + "/notes",
        summary="The notes, oldest first",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def list_notes(self, tenant: TenantRef, work_order_id: str) -> NotePage:
        return NotePage(items=await attachments.list_notes(tenant, work_order_id))

    @post(
        WO + "/photos",
        status_code=201,
        summary="Upload a photo (JPEG, PNG or WebP, at most 10 MB)",
        description="Send the image as the request body, or as the `file` field of a "
        "multipart form (with an optional `caption` field).",
        request_max_body_size=11 * 1024 * 1024,
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def add_photo(
        self,
        idempotency: IdempotencyKey | None,
        request: Req,
        work_order_id: str,
        tenant: TenantRef,
        actor: Actor,
    ) -> PhotoOut:
        content_type = request.headers.get("content-type", "")
        caption = ""
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise Invalid({"file": _("Send a photo.")})
            data = await upload.read()
            caption_field = form.get("caption")
            caption = caption_field if isinstance(caption_field, str) else ""
        else:
            data = await request.body()
        return await attachments.add_photo(tenant, work_order_id, data, caption, actor, idempotency)

    @get(
        WO + "/photos",
        summary="The photos, oldest first",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def list_photos(self, tenant: TenantRef, work_order_id: str) -> PhotoPage:
        return PhotoPage(items=await attachments.list_photos(tenant, work_order_id))

    @get(
        WO + "/photos/{photo_id:str}",
        summary="One photo's image",
        media_type="image/*",
        roles=allow(Role.MANAGER, Role.SALES, Role.TECHNICAL),
    )
    async def get_photo(
        self, tenant: TenantRef, work_order_id: str, photo_id: str
    ) -> Response[bytes]:
        content, media_type = await attachments.read_photo(tenant, work_order_id, photo_id)
        return Response(
            content,
            media_type=media_type,
            headers={
                "Cache-Control": "private, max-age=3600",
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": "inline",
            },
        )


HANDLERS = [WorkOrderController]
