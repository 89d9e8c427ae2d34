"""Suspension for non-payment and automatic reactivation, inside the caller's tenant scope.

The status change itself (history, audit, the gateways' desired state, the row lock that makes
a racing run and payment change a subscriber once) is `app.subscribers.status`'s; billing only
decides *when*: an invoice past its due date and grace period.
"""

from __future__ import annotations

import datetime as dt
import uuid

from app.core.audit import Actor
from app.subscribers import status as subscriber_status
from tenants.scope import current_scope

NON_PAYMENT = "non_payment"

OVERDUE_SQL = (
    "SELECT 1 FROM invoice i WHERE i.subscriber_id = {sub} AND i.kind = 'invoice'"
    " AND i.status = 'open' AND i.total > i.amount_paid AND i.due_date + {grace} < {day}"
)


async def suspend_for_non_payment(subscriber_id: uuid.UUID, actor: Actor, note: str) -> bool:
    """True when this call suspended the subscriber (not when a racing run already had)."""
    scope = current_scope()
    # Lock first: a run and a payment racing on this subscriber queue here.
    current = await scope.connection.fetchval(
        "SELECT status FROM subscriber WHERE id = $1 FOR UPDATE", subscriber_id
    )
    if current != "active":
        return False
    await subscriber_status.suspend(scope.tenant, subscriber_id, NON_PAYMENT, actor, note=note)
    return True


async def reactivate_if_clear(
    subscriber_id: uuid.UUID, today: dt.date, grace_days: int, actor: Actor, note: str
) -> bool:
    """Resume a subscriber suspended for non-payment once nothing is overdue any more."""
    scope = current_scope()
    conn = scope.connection
    # Lock first, so the overdue check and the resumption see the same state.
    state = await conn.fetchrow(
        "SELECT status, suspension_reason FROM subscriber WHERE id = $1 FOR UPDATE", subscriber_id
    )
    if state is None or (state["status"], state["suspension_reason"]) != ("suspended", NON_PAYMENT):
        return False
    overdue = OVERDUE_SQL.format(sub="$1", grace="$2::int", day="$3::date")
    if await conn.fetchval(overdue, subscriber_id, grace_days, today):
        return False
    row = await subscriber_status.resume(
        scope.tenant, subscriber_id, actor, only_reason=NON_PAYMENT, note=note, strict=False
    )
    return bool(row["status"] == "active")
