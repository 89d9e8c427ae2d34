"""A subscriber's status, the one place it changes: history, audit and desired state together.

`suspend`, `resume` and `cancel` are callable from other code (billing suspends for non-payment
and resumes on payment through them). They join the caller's tenant scope when one is open for
the same tenant (a job's), and open their own otherwise.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

from app import netstate
from app.core import audit
from app.core.audit import Actor
from app.core.events import emit
from app.core.i18n import _
from app.core.problems import Conflict, Invalid
from app.core.timeutil import now
from app.identity import sessions
from app.plans.access import access_plan
from app.subscribers.access import access_subscriber
from app.subscribers.events import SubscriberCancelled
from app.subscribers.tables import Subscriber, SubscriberStatusChange
from app.subscribers.timing import local_date
from tenants.registry import TenantRef
from tenants.scope import Scope, current_scope, in_scope, tenant_scope


class SubscriberStatus(StrEnum):
    PENDING = "pending_installation"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


# The names the state machine below reads best with.
PENDING = SubscriberStatus.PENDING
ACTIVE = SubscriberStatus.ACTIVE
SUSPENDED = SubscriberStatus.SUSPENDED
CANCELLED = SubscriberStatus.CANCELLED
STATUSES = tuple(SubscriberStatus)
LIVE = (PENDING, ACTIVE, SUSPENDED)
KNOWN_TO_NETWORK = (ACTIVE, SUSPENDED)


@asynccontextmanager
async def joined_scope(tenant: TenantRef) -> AsyncIterator[Scope]:
    """The caller's open scope for this tenant, or a new one."""
    if in_scope():
        scope = current_scope()
        if scope.tenant.id != tenant.id:
            raise RuntimeError("a scope for another tenant is open")
        yield scope
        return
    async with tenant_scope(tenant) as scope:
        yield scope


async def set_status(
    subscriber: dict[str, Any],
    to_status: str,
    actor: Actor,
    *,
    occurred_at: dt.datetime,
    reason: str | None = None,
    note: str = "",
    updates: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the new status and its history row; returns the subscriber as it now is."""
    values: dict[Any, Any] = {
        "status": to_status,
        "suspension_reason": reason if to_status == SUSPENDED else None,
        "updated_at": now(),
        **(updates or {}),
    }
    await Subscriber.update(values).where(Subscriber.id == subscriber["id"])
    await SubscriberStatusChange.insert(
        SubscriberStatusChange(
            id=uuid.uuid4(),
            subscriber=subscriber["id"],
            from_status=subscriber["status"],
            to_status=to_status,
            reason=reason,
            note=note[:500],
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label,
            occurred_at=occurred_at,
            recorded_at=now(),
        )
    )
    return await access_subscriber(subscriber["id"])


async def enforce(subscriber: dict[str, Any], occurred_at: dt.datetime | None = None) -> None:
    """Tell the gateways what this subscriber's state now means (inside the scope)."""
    await netstate.record(subscriber, await access_plan(subscriber["plan"]), occurred_at)


async def activate(
    tenant: TenantRef, subscriber: dict[str, Any], actor: Actor, occurred_at: dt.datetime
) -> dict[str, Any]:
    """Pending → active, from an installation work order. Billing starts on the tenant's local
    day of `occurred_at`. The caller holds the scope and the subscriber's row lock."""
    if subscriber["status"] != PENDING:
        raise Conflict(_("Only a subscriber waiting for installation can be activated."))
    if not subscriber["cpe_mac"] or subscriber["cpe_authenticated_at"] is None:
        raise Conflict(_("Authenticate the subscriber's CPE before activating."))
    start = local_date(tenant, occurred_at)
    row = await set_status(
        subscriber,
        ACTIVE,
        actor,
        occurred_at=occurred_at,
        note="installation",
        updates={"activated_at": occurred_at, "billing_start_date": start},
    )
    await enforce(row, occurred_at)
    await audit.record(
        actor,
        "subscriber.activate",
        "subscriber",
        row["id"],
        cpe_mac=row["cpe_mac"],
        billing_start_date=start.isoformat(),
        occurred_at=occurred_at.isoformat(),
    )
    return row


async def suspend(
    tenant: TenantRef,
    subscriber_id: object,
    reason: str,
    actor: Actor,
    *,
    note: str = "",
    occurred_at: dt.datetime | None = None,
    strict: bool = True,
) -> dict[str, Any]:
    """Active → suspended for `reason` (non_payment, admin, data_cap).

    With `strict=False` a subscriber that is already suspended is left as it is (a job that
    runs twice); otherwise that, like any other status, is a Conflict.
    """
    if reason not in netstate.REASONS:
        raise Invalid({"reason": _("Choose non_payment, admin or data_cap.")})
    at = occurred_at or now()
    async with joined_scope(tenant):
        row = await access_subscriber(subscriber_id, for_update=True)
        if row["status"] == SUSPENDED and not strict:
            return row
        if row["status"] != ACTIVE:
            raise Conflict(_("Only an active subscriber can be suspended."))
        row = await set_status(row, SUSPENDED, actor, occurred_at=at, reason=reason, note=note)
        await enforce(row, at)
        await audit.record(
            actor, "subscriber.suspend", "subscriber", row["id"], reason=reason, note=note[:500]
        )
        return row


async def resume(
    tenant: TenantRef,
    subscriber_id: object,
    actor: Actor,
    *,
    only_reason: str | None = None,
    note: str = "",
    occurred_at: dt.datetime | None = None,
    strict: bool = True,
) -> dict[str, Any]:
    """Suspended → active. With `only_reason` (billing passes "non_payment") a suspension for
    another reason is left alone, so a payment never lifts an administrative suspension."""
    at = occurred_at or now()
    async with joined_scope(tenant):
        row = await access_subscriber(subscriber_id, for_update=True)
        if row["status"] != SUSPENDED:
            if not strict:
                return row
            raise Conflict(_("Only a suspended subscriber can be resumed."))
        if only_reason is not None and row["suspension_reason"] != only_reason:
            return row
        before = row["suspension_reason"]
        row = await set_status(row, ACTIVE, actor, occurred_at=at, note=note)
        await enforce(row, at)
        await audit.record(
            actor, "subscriber.resume", "subscriber", row["id"], lifted=before, note=note[:500]
        )
        return row


async def cancel(
    tenant: TenantRef,
    subscriber_id: object,
    actor: Actor,
    *,
    note: str = "",
    occurred_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Any live status → cancelled: the network forgets the CPE, its MAC becomes free, open
    work orders are cancelled, and portal sessions end."""
    at = occurred_at or now()
    async with joined_scope(tenant) as scope:
        row = await access_subscriber(subscriber_id, for_update=True)
        if row["status"] not in LIVE:
            raise Conflict(_("This subscriber is already cancelled."))
        was_known = row["status"] in KNOWN_TO_NETWORK
        row = await set_status(
            row, CANCELLED, actor, occurred_at=at, note=note, updates={"cancelled_at": at}
        )
        if was_known:
            await enforce(row, at)
        await emit(SubscriberCancelled(row["id"], actor, at))
        await audit.record(actor, "subscriber.cancel", "subscriber", row["id"], note=note[:500])
        subscriber_key = str(row["id"])

        async def end_sessions() -> None:
            await sessions.end_all(scope.tenant, subscriber_key)

        scope.after_commit(end_sessions)
        return row
