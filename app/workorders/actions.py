"""Work order actions: create, list, and one action per transition.

Every transition honours `Idempotency-Key`: the offline app replays its outbox, and a replay
answers what the first call answered without changing anything. The same transition sent again
without the key is judged afresh (usually a 409, since the work order has moved on).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.pagination import SqlFilter, decode_cursor, next_cursor
from app.core.problems import Conflict, Invalid, NotFound
from app.core.timeutil import iso
from app.plans.access import parse_id
from app.subscribers import status as subscriber_status
from app.subscribers.access import access_subscriber
from app.subscribers.timing import parse_date, parse_occurred_at
from app.workorders import machine
from app.workorders.access import access_work_order
from app.workorders.schemas import (
    AuthenticateCpeIn,
    CancelIn,
    ScheduleIn,
    SignOffIn,
    StepIn,
    WorkOrderIn,
    WorkOrderOut,
)
from app.workorders.tables import WorkOrder
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

MAX_SIGNATURE = 300_000
"""Characters of a data URL: a signature drawn on a phone is a few tens of kilobytes."""


def _iso(value: dt.datetime | None) -> str | None:
    return iso(value) if value is not None else None


def work_order_out(row: dict[str, Any]) -> WorkOrderOut:
    return WorkOrderOut(
        id=str(row["id"]),
        subscriber_id=str(row["subscriber"]),
        kind=row["kind"],
        status=row["status"],
        technician_id=str(row["technician"]) if row["technician"] else None,
        install_date=row["install_date"].isoformat() if row["install_date"] else None,
        description=row["description"],
        cpe_mac=row["cpe_mac"],
        access_point_id=str(row["access_point"]) if row["access_point"] else None,
        scheduled_at=_iso(row["scheduled_at"]),
        started_at=_iso(row["started_at"]),
        cpe_authenticated_at=_iso(row["cpe_authenticated_at"]),
        activated_at=_iso(row["activated_at"]),
        signed_off_at=_iso(row["signed_off_at"]),
        signed_by=row["signed_by"],
        has_signature=bool(row["signature"]),
        cancelled_at=_iso(row["cancelled_at"]),
        cancel_reason=row["cancel_reason"],
        created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]),
    )


async def create_work_order(
    tenant: TenantRef, data: WorkOrderIn, actor: Actor, idempotency: IdempotencyKey | None = None
) -> WorkOrderOut:
    if data.kind not in machine.KINDS:
        raise Invalid({"kind": _("Choose installation, repair, maintenance or removal.")})
    if len(data.description) > 5000:
        raise Invalid({"description": _("Use at most 5000 characters.")})
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, WorkOrderOut)
        try:
            subscriber = await access_subscriber(data.subscriber_id, for_update=True)
        except NotFound:
            raise Invalid({"subscriber_id": _("No such subscriber.")}) from None
        state = subscriber["status"]
        if data.kind == machine.INSTALLATION:
            if state != subscriber_status.PENDING:
                raise Conflict(_("Only a subscriber waiting for installation gets one."))
            if await WorkOrder.exists().where(
                WorkOrder.subscriber == subscriber["id"],
                WorkOrder.kind == machine.INSTALLATION,
                WorkOrder.status.is_in([*machine.UNFINISHED, machine.ACTIVATED]),
            ):
                raise Conflict(_("This subscriber already has an installation work order."))
        elif data.kind == machine.REMOVAL:
            if state == subscriber_status.PENDING:
                raise Conflict(_("Nothing is installed yet; cancel the installation instead."))
        elif state not in subscriber_status.KNOWN_TO_NETWORK:
            raise Conflict(_("Only an installed subscriber gets repair or maintenance visits."))
        work_order_id = await machine.new_work_order(
            subscriber["id"], data.kind, actor, data.description.strip()
        )
        out = work_order_out(await access_work_order(work_order_id))
        await scope.remember(msgspec.to_builtins(out))
    return out


async def _transition(
    tenant: TenantRef,
    work_order_id: str,
    verb: str,
    body: Any,
    actor: Actor,
    idempotency: IdempotencyKey | None,
) -> WorkOrderOut:
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, WorkOrderOut)
        found = await access_work_order(work_order_id)
        # Subscriber first, then work order: the same order as cancelling a subscriber takes.
        subscriber = await access_subscriber(found["subscriber"], for_update=True)
        work_order = await access_work_order(found["id"], for_update=True)
        machine.check_allowed(verb, work_order)
        occurred_at = parse_occurred_at(body.occurred_at, not_before=work_order["created_at"])
        if verb == "schedule":
            await _schedule(work_order, body, actor, occurred_at)
        elif verb == "start":
            await machine.move(
                work_order, machine.IN_PROGRESS, actor, occurred_at, {"started_at": occurred_at}
            )
        elif verb == "authenticate-cpe":
            await machine.authenticate_cpe(
                work_order, subscriber, body.cpe_mac, body.access_point_id, actor, occurred_at
            )
        elif verb == "activate":
            await machine.activate(tenant, work_order, subscriber, actor, occurred_at)
        elif verb == "sign-off":
            await _sign_off(work_order, body, actor, occurred_at)
        elif verb == "cancel":
            await machine.cancel(work_order, subscriber, body.reason, actor, occurred_at)
        out = work_order_out(await access_work_order(work_order["id"]))
        await scope.remember(msgspec.to_builtins(out))
    return out


async def _schedule(
    work_order: dict[str, Any], body: ScheduleIn, actor: Actor, occurred_at: dt.datetime
) -> None:
    install_date = parse_date(body.install_date, "install_date")
    technician_id = work_order["technician"]
    if body.technician_id is not None:
        technician_id = (await machine.technician(body.technician_id))["id"]
    await machine.move(
        work_order,
        machine.SCHEDULED,
        actor,
        occurred_at,
        {"install_date": install_date, "technician": technician_id, "scheduled_at": occurred_at},
        install_date=install_date.isoformat(),
        technician_id=str(technician_id) if technician_id else None,
    )


async def _sign_off(
    work_order: dict[str, Any], body: SignOffIn, actor: Actor, occurred_at: dt.datetime
) -> None:
    errors: dict[str, str] = {}
    signed_by = body.signed_by.strip()
    if not 1 <= len(signed_by) <= 200:
        errors["signed_by"] = _("Enter the name of the person who signs (1 to 200 characters).")
    signature = body.signature
    if signature is not None and (
        not signature.startswith("data:image/") or len(signature) > MAX_SIGNATURE
    ):
        errors["signature"] = _("Send the signature as an image data URL of at most 300 kB.")
    if errors:
        raise Invalid(errors)
    await machine.move(
        work_order,
        machine.SIGNED_OFF,
        actor,
        occurred_at,
        {"signed_off_at": occurred_at, "signed_by": signed_by, "signature": signature},
        signed_by=signed_by,
    )


async def schedule(
    tenant: TenantRef, wid: str, body: ScheduleIn, actor: Actor, key: IdempotencyKey | None
) -> WorkOrderOut:
    return await _transition(tenant, wid, "schedule", body, actor, key)


async def start(
    tenant: TenantRef, wid: str, body: StepIn, actor: Actor, key: IdempotencyKey | None
) -> WorkOrderOut:
    return await _transition(tenant, wid, "start", body, actor, key)


async def authenticate_cpe(
    tenant: TenantRef, wid: str, body: AuthenticateCpeIn, actor: Actor, key: IdempotencyKey | None
) -> WorkOrderOut:
    return await _transition(tenant, wid, "authenticate-cpe", body, actor, key)


async def activate(
    tenant: TenantRef, wid: str, body: StepIn, actor: Actor, key: IdempotencyKey | None
) -> WorkOrderOut:
    return await _transition(tenant, wid, "activate", body, actor, key)


async def sign_off(
    tenant: TenantRef, wid: str, body: SignOffIn, actor: Actor, key: IdempotencyKey | None
) -> WorkOrderOut:
    return await _transition(tenant, wid, "sign-off", body, actor, key)


async def cancel(
    tenant: TenantRef, wid: str, body: CancelIn, actor: Actor, key: IdempotencyKey | None
) -> WorkOrderOut:
    return await _transition(tenant, wid, "cancel", body, actor, key)


async def list_work_orders(
    tenant: TenantRef,
    *,
    subscriber_id: str | None = None,
    status: str | None = None,
    technician_id: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[WorkOrderOut], str | None]:
    """Newest first; the cursor is the last row's (created_at, id), so pages never overlap."""
    query = SqlFilter()

    errors: dict[str, str] = {}
    for name, value in (("subscriber_id", subscriber_id), ("technician_id", technician_id)):
        if value is not None:
            parsed = parse_id(value)
            if parsed is None:
                errors[name] = _("This is not a valid id.")
            else:
                column = "subscriber" if name == "subscriber_id" else "technician"
                query.where(f"{column} = {query.arg(parsed)}")
    if status is not None:
        if status not in machine.STATUSES:
            errors["status"] = _("This is not a work order status.")
        query.where(f"status = {query.arg(status)}")
    if kind is not None:
        if kind not in machine.KINDS:
            errors["kind"] = _("Choose installation, repair, maintenance or removal.")
        query.where(f"kind = {query.arg(kind)}")
    if cursor:
        created, ident = decode_cursor(cursor, dt.datetime.fromisoformat, uuid.UUID)
        query.where(f"(created_at, id) < ({query.arg(created)}, {query.arg(ident)})")
    if errors:
        raise Invalid(errors)
    order = f"ORDER BY created_at DESC, id DESC LIMIT {query.arg(limit)}"
    sql = f"SELECT * FROM work_order {query.sql} {order}"
    async with tenant_scope(tenant) as scope:
        rows = [dict(r) for r in await scope.connection.fetch(sql, *query.args)]
    items = [work_order_out(r) for r in rows]
    return items, next_cursor(rows, limit, lambda r: (r["created_at"], r["id"]))


async def get_work_order(tenant: TenantRef, work_order_id: str) -> WorkOrderOut:
    async with tenant_scope(tenant):
        return work_order_out(await access_work_order(work_order_id))
