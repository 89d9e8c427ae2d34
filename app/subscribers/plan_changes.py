"""Upgrades and downgrades with an effective date, for billing's proration.

A change effective today or earlier (the tenant's today) takes effect at once; a later one waits
for the periodic job. A subscriber has at most one pending change: a new one replaces it.
`plan_change` rows are never deleted; billing reads `from_plan`, `to_plan`, `effective_date`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from app.core import audit
from app.core.audit import SYSTEM, Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Conflict, Invalid
from app.core.timeutil import iso, now
from app.subscribers import status as st
from app.subscribers.access import access_subscriber, lock_subscribers
from app.subscribers.actions import plan_for_new_subscriber
from app.subscribers.schemas import PlanChangeIn, PlanChangeOut
from app.subscribers.tables import PlanChange, Subscriber
from app.subscribers.timing import local_date, parse_date
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

MAX_AHEAD = dt.timedelta(days=366)


def plan_change_out(row: dict[str, Any]) -> PlanChangeOut:
    return PlanChangeOut(
        id=str(row["id"]),
        subscriber_id=str(row["subscriber"]),
        from_plan_id=str(row["from_plan"]),
        to_plan_id=str(row["to_plan"]),
        effective_date=row["effective_date"].isoformat(),
        created_by=str(row["created_by"]) if row["created_by"] else None,
        created_at=iso(row["created_at"]),
        applied_at=iso(row["applied_at"]) if row["applied_at"] else None,
        cancelled_at=iso(row["cancelled_at"]) if row["cancelled_at"] else None,
    )


async def _change(change_id: uuid.UUID) -> dict[str, Any]:
    row: dict[str, Any] | None = await PlanChange.select().where(PlanChange.id == change_id).first()
    assert row is not None
    return row


async def apply(change: dict[str, Any], actor: Actor) -> None:
    """Switch the subscriber to the new plan (the subscriber's row is locked by the caller)."""
    at = now()
    await Subscriber.update({Subscriber.plan: change["to_plan"], Subscriber.updated_at: at}).where(
        Subscriber.id == change["subscriber"]
    )
    await PlanChange.update({PlanChange.applied_at: at}).where(PlanChange.id == change["id"])
    subscriber = await access_subscriber(change["subscriber"])
    if subscriber["status"] in st.KNOWN_TO_NETWORK:
        await st.enforce(subscriber, at)
    await audit.record(
        actor,
        "subscriber.plan_changed",
        "subscriber",
        change["subscriber"],
        plan_change_id=str(change["id"]),
        from_plan_id=str(change["from_plan"]),
        to_plan_id=str(change["to_plan"]),
        effective_date=change["effective_date"].isoformat(),
    )


async def change_plan(
    tenant: TenantRef,
    subscriber_id: str,
    data: PlanChangeIn,
    actor: Actor,
    idempotency: IdempotencyKey | None = None,
) -> PlanChangeOut:
    today = local_date(tenant, now())
    effective = parse_date(data.effective_date, "effective_date") if data.effective_date else today
    if effective > today + MAX_AHEAD:
        raise Invalid({"effective_date": _("Choose a date within a year.")})
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, PlanChangeOut)
        subscriber = await access_subscriber(subscriber_id, for_update=True)
        if subscriber["status"] == st.CANCELLED:
            raise Conflict(_("This subscriber is cancelled."))
        errors: dict[str, str] = {}
        plan = await plan_for_new_subscriber(data.plan_id, errors)
        if plan is not None and plan["id"] == subscriber["plan"]:
            errors["plan_id"] = _("The subscriber already has this plan.")
        if errors:
            raise Invalid(errors)
        assert plan is not None
        at = now()
        superseded = (
            await PlanChange.update({PlanChange.cancelled_at: at})
            .where(
                PlanChange.subscriber == subscriber["id"],
                PlanChange.applied_at.is_null(),
                PlanChange.cancelled_at.is_null(),
            )
            .returning(PlanChange.id)
        )
        change_id = uuid.uuid4()
        await PlanChange.insert(
            PlanChange(
                id=change_id,
                subscriber=subscriber["id"],
                from_plan=subscriber["plan"],
                to_plan=plan["id"],
                effective_date=effective,
                created_by=actor.id,
                created_by_label=actor.label,
                created_at=at,
            )
        )
        await audit.record(
            actor,
            "subscriber.plan_change",
            "subscriber",
            subscriber["id"],
            plan_change_id=str(change_id),
            to_plan_id=str(plan["id"]),
            effective_date=effective.isoformat(),
            replaces=[str(r["id"]) for r in superseded],
        )
        if effective <= today:
            await apply(await _change(change_id), actor)
        out = plan_change_out(await _change(change_id))
        await scope.remember(msgspec.to_builtins(out))
    return out


async def list_plan_changes(tenant: TenantRef, subscriber_id: str) -> list[PlanChangeOut]:
    async with tenant_scope(tenant):
        subscriber = await access_subscriber(subscriber_id)
        rows = (
            await PlanChange.select()
            .where(PlanChange.subscriber == subscriber["id"])
            .order_by(PlanChange.created_at)
            .order_by(PlanChange.id)
        )
        return [plan_change_out(r) for r in rows]


async def apply_due(tenant: TenantRef, today: dt.date | None = None) -> int:
    """Apply every pending change whose day has come (inside the caller's scope); returns how
    many. Safe to run twice: an applied change is no longer pending."""
    day = today or local_date(tenant, now())
    due = (
        await PlanChange.select(PlanChange.id, PlanChange.subscriber)
        .where(
            PlanChange.applied_at.is_null(),
            PlanChange.cancelled_at.is_null(),
            PlanChange.effective_date <= day,
        )
        .order_by(PlanChange.effective_date)
    )
    await lock_subscribers(item["subscriber"] for item in due)
    applied = 0
    for item in due:
        subscriber = await access_subscriber(item["subscriber"], for_update=True)
        change = (
            await PlanChange.select()
            .where(PlanChange.id == item["id"], PlanChange.applied_at.is_null())
            .lock_rows()
            .first()
        )
        if change is None or change["cancelled_at"] is not None:
            continue
        if subscriber["status"] == st.CANCELLED:
            await PlanChange.update({PlanChange.cancelled_at: now()}).where(
                PlanChange.id == change["id"]
            )
            continue
        await apply(change, SYSTEM)
        applied += 1
    return applied
