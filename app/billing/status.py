"""Suspension for non-payment and automatic reactivation, inside the caller's tenant scope.

Each change is one guarded UPDATE (`WHERE status = …`), so two runs, or a run and a payment,
racing on the same subscriber change it once; the history, the audit log and the gateways'
desired state are written in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app import audit
from app.audit import Actor
from app.netstate import state as netstate
from tenants.scope import current_scope

NON_PAYMENT = "non_payment"

OVERDUE_SQL = (
    "SELECT 1 FROM invoice i WHERE i.subscriber_id = {sub} AND i.kind = 'invoice'"
    " AND i.status = 'open' AND i.total > i.amount_paid AND i.due_date + {grace} < {day}"
)


async def _history(
    conn: Any, row: Any, frm: str, to: str, reason: str | None, actor: Actor, note: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    await conn.execute(
        "INSERT INTO subscriber_status_change (id, subscriber, from_status, to_status, reason,"
        " note, actor_type, actor_id, actor_label, occurred_at, recorded_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        uuid.uuid4(),
        row["id"],
        frm,
        to,
        reason,
        note,
        actor.type,
        actor.id,
        actor.label,
        now,
    )


async def _plan(conn: Any, plan_id: Any) -> Any:
    return await conn.fetchrow(
        "SELECT download_kbps, upload_kbps FROM rate_plan WHERE id = $1", plan_id
    )


async def suspend_for_non_payment(subscriber_id: uuid.UUID, actor: Actor, note: str) -> bool:
    conn = current_scope().connection
    row = await conn.fetchrow(
        "UPDATE subscriber SET status = 'suspended', suspension_reason = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'active' RETURNING *",
        subscriber_id,
        NON_PAYMENT,
    )
    if row is None:
        return False
    await _history(conn, row, "active", "suspended", NON_PAYMENT, actor, note)
    await audit.record(actor, "subscriber.suspended", "subscriber", row["id"], reason=NON_PAYMENT)
    await netstate.record(row, await _plan(conn, row["plan"]))
    return True


async def reactivate_if_clear(
    subscriber_id: uuid.UUID, today: dt.date, grace_days: int, actor: Actor, note: str
) -> bool:
    """Resume a subscriber suspended for non-payment once nothing is overdue any more."""
    conn = current_scope().connection
    overdue = OVERDUE_SQL.format(sub="$1", grace="$2::int", day="$3::date")
    row = await conn.fetchrow(
        "UPDATE subscriber SET status = 'active', suspension_reason = NULL, updated_at = now()"
        f" WHERE id = $1 AND status = 'suspended' AND suspension_reason = '{NON_PAYMENT}'"
        f" AND NOT EXISTS ({overdue}) RETURNING *",
        subscriber_id,
        grace_days,
        today,
    )
    if row is None:
        return False
    await _history(conn, row, "suspended", "active", None, actor, note)
    await audit.record(actor, "subscriber.reactivated", "subscriber", row["id"], reason="paid")
    await netstate.record(row, await _plan(conn, row["plan"]))
    return True
