"""The work order state machine.

    open → scheduled → in_progress → cpe_authenticated → activated → signed_off
    (any step before activated) → cancelled

Only installations are activated (that is what turns the subscriber on). Repairs may
authenticate a replacement CPE (its MAC reaches the gateways at once) and are signed off from
in_progress or cpe_authenticated, like maintenance and removal visits.
Each function here runs inside the caller's tenant scope with the rows locked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.problems import Conflict, Invalid, NotFound
from app.core.timeutil import now
from app.identity.access import active_staff
from app.network.access import access_access_point
from app.subscribers import cpe
from app.subscribers import status as subscriber_status
from app.subscribers.mac import normalise_mac
from app.workorders.tables import WorkOrder, WorkOrderTransition
from tenants.registry import TenantRef


class WorkOrderStatus(StrEnum):
    OPEN = "open"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    CPE_AUTHENTICATED = "cpe_authenticated"
    ACTIVATED = "activated"
    SIGNED_OFF = "signed_off"
    CANCELLED = "cancelled"


class WorkOrderKind(StrEnum):
    INSTALLATION = "installation"
    REPAIR = "repair"
    MAINTENANCE = "maintenance"
    REMOVAL = "removal"


# The names the state machine below reads best with.
OPEN = WorkOrderStatus.OPEN
SCHEDULED = WorkOrderStatus.SCHEDULED
IN_PROGRESS = WorkOrderStatus.IN_PROGRESS
CPE_AUTHENTICATED = WorkOrderStatus.CPE_AUTHENTICATED
ACTIVATED = WorkOrderStatus.ACTIVATED
SIGNED_OFF = WorkOrderStatus.SIGNED_OFF
CANCELLED = WorkOrderStatus.CANCELLED
STATUSES = tuple(WorkOrderStatus)
UNFINISHED = (OPEN, SCHEDULED, IN_PROGRESS, CPE_AUTHENTICATED)

INSTALLATION = WorkOrderKind.INSTALLATION
REPAIR = WorkOrderKind.REPAIR
MAINTENANCE = WorkOrderKind.MAINTENANCE
REMOVAL = WorkOrderKind.REMOVAL
KINDS = tuple(WorkOrderKind)

TECHNICIAN_ROLES = ("technical", "manager")


def allowed_from(verb: str, kind: str) -> tuple[str, ...]:
    """The statuses a work order of `kind` may be in for `verb`."""
    if verb == "schedule":
        return (OPEN, SCHEDULED)
    if verb == "start":
        return (SCHEDULED,)
    if verb == "authenticate-cpe":
        return (IN_PROGRESS, CPE_AUTHENTICATED) if kind in (INSTALLATION, REPAIR) else ()
    if verb == "activate":
        return (CPE_AUTHENTICATED,) if kind == INSTALLATION else ()
    if verb == "sign-off":
        return (ACTIVATED,) if kind == INSTALLATION else (IN_PROGRESS, CPE_AUTHENTICATED)
    if verb == "cancel":
        return UNFINISHED
    raise ValueError(verb)


def check_allowed(verb: str, work_order: dict[str, Any]) -> None:
    if work_order["status"] not in allowed_from(verb, work_order["kind"]):
        raise Conflict(
            _("A {kind} work order that is {status} cannot do this: {verb}.").format(
                kind=work_order["kind"], status=work_order["status"], verb=verb
            ),
            status_now=work_order["status"],
        )


def work_order_row(
    subscriber_id: uuid.UUID,
    kind: str,
    actor: Actor,
    description: str = "",
    work_order_id: uuid.UUID | None = None,
) -> WorkOrder:
    """A new work order, not yet inserted (the CSV import inserts many at once)."""
    at = now()
    return WorkOrder(
        id=work_order_id or uuid.uuid4(),
        subscriber=subscriber_id,
        kind=kind,
        status=OPEN,
        description=description,
        created_by=actor.id,
        created_at=at,
        updated_at=at,
    )


async def new_work_order(
    subscriber_id: uuid.UUID,
    kind: str,
    actor: Actor,
    description: str = "",
    work_order_id: uuid.UUID | None = None,
) -> uuid.UUID:
    row = work_order_row(subscriber_id, kind, actor, description, work_order_id)
    await WorkOrder.insert(row)
    work_order_id = row.id
    await audit.record(
        actor,
        "work_order.create",
        "work_order",
        work_order_id,
        kind=kind,
        subscriber_id=str(subscriber_id),
    )
    return work_order_id


async def move(
    work_order: dict[str, Any],
    to_status: str,
    actor: Actor,
    occurred_at: dt.datetime,
    updates: dict[Any, Any] | None = None,
    **audit_data: Any,
) -> None:
    await WorkOrder.update({"status": to_status, "updated_at": now(), **(updates or {})}).where(
        WorkOrder.id == work_order["id"]
    )
    await WorkOrderTransition.insert(
        WorkOrderTransition(
            id=uuid.uuid4(),
            work_order=work_order["id"],
            from_status=work_order["status"],
            to_status=to_status,
            occurred_at=occurred_at,
            recorded_at=now(),
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label,
        )
    )
    await audit.record(
        actor,
        f"work_order.{to_status}",
        "work_order",
        work_order["id"],
        subscriber_id=str(work_order["subscriber"]),
        occurred_at=occurred_at.isoformat(),
        **audit_data,
    )


async def technician(technician_id: str) -> dict[str, Any]:
    row = await active_staff(technician_id)
    if row is None or row["role"] not in TECHNICIAN_ROLES:
        raise Invalid(
            {"technician_id": _("Choose an active staff member with the technical role.")}
        )
    return row


async def authenticate_cpe(
    work_order: dict[str, Any],
    subscriber: dict[str, Any],
    raw_mac: str,
    access_point_id: str | None,
    actor: Actor,
    occurred_at: dt.datetime,
) -> None:
    mac, problem = normalise_mac(raw_mac)
    errors: dict[str, str] = {}
    if problem:
        errors["cpe_mac"] = problem
    access_point: dict[str, Any] | None = None
    if access_point_id is not None:
        try:
            access_point = await access_access_point(access_point_id)
        except NotFound:
            errors["access_point_id"] = _("No such access point.")
    if errors or mac is None:
        raise Invalid(errors)
    if subscriber["status"] not in subscriber_status.LIVE:
        raise Conflict(_("This subscriber is cancelled."))
    if work_order["kind"] == INSTALLATION and subscriber["status"] != subscriber_status.PENDING:
        raise Conflict(_("This subscriber is already installed; open a repair work order."))
    await cpe.record_cpe(subscriber, mac, access_point, occurred_at)
    await move(
        work_order,
        CPE_AUTHENTICATED,
        actor,
        occurred_at,
        {
            "cpe_mac": mac,
            "cpe_authenticated_at": occurred_at,
            "access_point": access_point["id"] if access_point else work_order["access_point"],
        },
        cpe_mac=mac,
        previous_mac=subscriber["cpe_mac"],
    )


async def activate(
    tenant: TenantRef,
    work_order: dict[str, Any],
    subscriber: dict[str, Any],
    actor: Actor,
    occurred_at: dt.datetime,
) -> None:
    if not work_order["cpe_mac"] or work_order["cpe_mac"] != subscriber["cpe_mac"]:
        raise Conflict(_("Authenticate the subscriber's CPE before activating."))
    await subscriber_status.activate(tenant, subscriber, actor, occurred_at)
    await move(work_order, ACTIVATED, actor, occurred_at, {"activated_at": occurred_at})


async def cancel(
    work_order: dict[str, Any],
    subscriber: dict[str, Any],
    reason: str,
    actor: Actor,
    occurred_at: dt.datetime,
) -> None:
    """A cancelled installation releases the CPE it authenticated, so that MAC is free again
    and the next installation must authenticate its own."""
    reason = reason.strip()[:500]
    await move(
        work_order,
        CANCELLED,
        actor,
        occurred_at,
        {"cancelled_at": occurred_at, "cancel_reason": reason},
        reason=reason,
    )
    if work_order["kind"] == INSTALLATION:
        await cpe.release_cpe(subscriber)


async def cancel_open_orders(subscriber_id: uuid.UUID, actor: Actor, at: dt.datetime) -> None:
    """A cancelled subscriber's unfinished visits are cancelled with it (removal visits to
    collect the equipment are opened afterwards)."""
    rows = (
        await WorkOrder.select()
        .where(WorkOrder.subscriber == subscriber_id, WorkOrder.status.is_in(list(UNFINISHED)))
        .lock_rows()
    )
    for row in rows:
        await move(
            row,
            CANCELLED,
            actor,
            at,
            {"cancelled_at": at, "cancel_reason": "subscriber cancelled"},
        )
