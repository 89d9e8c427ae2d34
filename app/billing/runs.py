"""Billing runs as records: who ran which date, what it invoiced, suspended and reactivated."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app.billing import engine
from app.billing.periods import local_today
from app.billing.schemas import RunOut
from app.core.audit import Actor
from app.core.config import get_settings
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Invalid, NotFound
from app.core.timeutil import iso
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

INLINE_LIMIT = 2000
"""Up to this many billable subscribers a run answers at once; beyond, it goes to a worker."""


def parse_as_of(text: str, tenant: TenantRef) -> dt.date:
    try:
        as_of = dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid({"as_of": _("Use a date like 2026-01-31.")}) from None
    if as_of > local_today(tenant.timezone) and not get_settings().allow_future_billing:
        raise Invalid({"as_of": _("A billing run cannot be dated in the future.")})
    return as_of


def run_out(row: Any) -> RunOut:
    return RunOut(
        id=str(row["id"]),
        as_of=row["as_of"].isoformat(),
        status=row["status"],
        invoiced=row["invoiced"],
        suspended=row["suspended"],
        reactivated=row["reactivated"],
        halted_reason=row["halted_reason"],
        started_at=iso(row["started_at"]),
        finished_at=iso(row["finished_at"]) if row["finished_at"] else None,
    )


async def create(
    tenant: TenantRef, as_of: dt.date, actor: Actor, idempotency: IdempotencyKey | None = None
) -> tuple[uuid.UUID, int]:
    """Record a queued run; returns its id and how many subscribers it will look at.

    A retry with the same `Idempotency-Key` gets the first request's run back, not a new one:
    executing it again is harmless (`execute` claims a queued run once), and the caller does
    exactly that, so a run whose first request died before executing it still happens."""
    run_id = uuid.uuid4()
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return uuid.UUID(scope.replay["run_id"]), int(scope.replay["billable"])
        await scope.connection.execute(
            "INSERT INTO billing_run (id, as_of, status, started_at, started_by)"
            " VALUES ($1, $2, 'queued', now(), $3)",
            run_id,
            as_of,
            actor.id,
        )
        billable = int(
            await scope.connection.fetchval(
                "SELECT count(*) FROM subscriber WHERE billing_start_date <= $1", as_of
            )
        )
        await scope.remember({"run_id": str(run_id), "billable": billable})
    return run_id, billable


async def execute(
    tenant: TenantRef, run_id: uuid.UUID, actor: Actor, progress: engine.Progress | None = None
) -> RunOut:
    # A run that is 'running' or 'failed' is taken up again: its worker was killed or lost
    # its database mid-run, and the job came back (redelivered, or retried). The engine only
    # finishes what is left, so even a run that is in fact still going elsewhere is safe.
    async with tenant_scope(tenant) as scope:
        row = await scope.connection.fetchrow(
            "UPDATE billing_run SET status = 'running' WHERE id = $1"
            " AND status IN ('queued', 'running', 'failed') RETURNING *",
            run_id,
        )
    if row is None:
        return await get(tenant, run_id)  # finished already (a redelivered job): nothing to do
    try:
        report = await engine.run(tenant, row["as_of"], actor, progress)
    except Exception:
        async with tenant_scope(tenant) as scope:
            await scope.connection.execute(
                "UPDATE billing_run SET status = 'failed', finished_at = now() WHERE id = $1",
                run_id,
            )
        raise
    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "UPDATE billing_run SET status = $2, invoiced = $3, suspended = $4, reactivated = $5,"
            " halted_reason = $6, finished_at = now() WHERE id = $1",
            run_id,
            "halted" if report.halted_reason else "done",
            len(report.invoiced),
            len(report.suspended),
            len(report.reactivated),
            report.halted_reason,
        )
    return await get(tenant, run_id)


async def get(tenant: TenantRef, run_id: uuid.UUID) -> RunOut:
    async with tenant_scope(tenant) as scope:
        row = await scope.connection.fetchrow("SELECT * FROM billing_run WHERE id = $1", run_id)
    if row is None:
        raise NotFound(_("No such billing run."))
    return run_out(row)
