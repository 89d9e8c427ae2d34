"""The billing run: invoices for every period that has started, then suspensions.

Exactly once per (subscriber, period) by the `one_per_period` unique constraint: invoices are
inserted with `ON CONFLICT DO NOTHING`, and only the rows that were really inserted get a legal
number, so re-running a date — or running it from eight workers at once — creates nothing new
and leaves no gap. Subscribers are processed in chunks, one transaction each, with set-based
SQL, because a WISP with thousands of subscribers must not wait on a row-at-a-time loop.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.billing import compose, issuing, settings, snapshots, trueup
from app.billing.allocation import allocate
from app.billing.numbering import format_number
from app.billing.periods import Period, local_date, periods_starting_by
from app.billing.status import OVERDUE_SQL, reactivate_if_clear, suspend_for_non_payment
from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.jobs import enqueue_after_commit
from app.subscribers.access import lock_subscribers
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

CHUNK = 1000


@dataclass
class RunReport:
    as_of: dt.date
    invoiced: list[uuid.UUID] = field(default_factory=list)
    suspended: list[uuid.UUID] = field(default_factory=list)
    reactivated: list[uuid.UUID] = field(default_factory=list)
    halted_reason: str = ""


Progress = Callable[[int, int], None]


async def _billables(
    conn: Any, tenant: TenantRef, as_of: dt.date, ids: list[uuid.UUID]
) -> list[compose.Billable]:
    rows = await conn.fetch(
        "SELECT id, name, email, address, language, plan, billing_start_date, cancelled_at"
        " FROM subscriber WHERE id = ANY($2::uuid[]) AND billing_start_date <= $1 ORDER BY id",
        as_of,
        ids,
    )
    changes: dict[uuid.UUID, list[compose.PlanChange]] = defaultdict(list)
    for c in await conn.fetch(
        "SELECT subscriber, effective_date, from_plan, to_plan FROM plan_change"
        " WHERE cancelled_at IS NULL AND subscriber = ANY($1::uuid[])"
        " ORDER BY effective_date, created_at",
        ids,
    ):
        changes[c["subscriber"]].append(
            compose.PlanChange(c["effective_date"], c["from_plan"], c["to_plan"])
        )
    out = []
    for r in rows:
        cancelled = local_date(r["cancelled_at"], tenant.timezone) if r["cancelled_at"] else None
        out.append(
            compose.Billable(
                id=r["id"],
                name=r["name"],
                email=r["email"],
                address=r["address"],
                language=snapshots.document_language(r["language"], tenant.language),
                plan_id=r["plan"],
                billing_start=r["billing_start_date"],
                cancelled_on=cancelled,
                changes=changes.get(r["id"], []),
            )
        )
    return out


async def _plans(conn: Any) -> dict[uuid.UUID, compose.Plan]:
    return {
        r["id"]: compose.Plan(r["id"], r["name"], r["monthly_price"], r["setup_fee"], r["tax_rate"])
        for r in await conn.fetch(
            "SELECT id, name, monthly_price, setup_fee, tax_rate FROM rate_plan"
        )
    }


async def _last_invoiced(conn: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, dt.date]:
    rows = await conn.fetch(
        "SELECT subscriber_id, max(period_start) AS last FROM invoice"
        " WHERE kind = 'invoice' AND subscriber_id = ANY($1::uuid[]) GROUP BY subscriber_id",
        ids,
    )
    return {r["subscriber_id"]: r["last"] for r in rows}


async def _invoice_chunk(
    tenant: TenantRef,
    ids: list[uuid.UUID],
    as_of: dt.date,
    actor: Actor,
    conf: settings.Settings,
    plans: dict[uuid.UUID, compose.Plan],
    issuer_id: uuid.UUID,
) -> list[uuid.UUID]:
    """Invoice one chunk of subscribers in one transaction; returns the new invoices' ids."""
    async with tenant_scope(tenant) as scope:
        conn = scope.connection
        first_number = await issuing.lock_series(conn, conf.invoice_prefix, as_of.year, as_of)
        billables = await _billables(conn, tenant, as_of, ids)
        done = await _last_invoiced(conn, ids)
        due = as_of + dt.timedelta(days=conf.payment_terms_days)
        planned: dict[uuid.UUID, list[tuple[Period, list[compose.Line]]]] = {}
        for b in billables:
            for period in periods_starting_by(
                b.billing_start, as_of, conf.billing_policy, conf.billing_day, b.cancelled_on
            ):
                if b.id in done and period.start <= done[b.id]:
                    continue
                planned.setdefault(b.id, []).append(
                    (
                        period,
                        compose.lines_for(
                            b,
                            period,
                            plans,
                            tenant.currency,
                            conf.tax_rate,
                            conf.billing_policy,
                            conf.billing_day,
                        ),
                    )
                )
        fixes = await trueup.corrections(conn, billables, done, plans, conf, tenant.currency)
        credits: list[tuple[compose.Billable, list[compose.Line]]] = []
        for b in billables:
            if b.id not in fixes:
                continue
            if b.id in planned:
                planned[b.id][-1][1].extend(fixes[b.id])  # on the next invoice
            elif b.cancelled_on is not None:
                credits.append((b, fixes[b.id]))  # no next invoice: a credit note now
        new_credit_notes = await issuing.credit_notes(conn, tenant, conf, issuer_id, as_of, credits)
        invoices: list[tuple[Any, ...]] = []
        lines: dict[uuid.UUID, list[compose.Line]] = {}
        for b in billables:
            for period, invoice_lines in planned.get(b.id, []):
                subtotal, tax, total = compose.totals(invoice_lines)
                invoice_id = uuid.uuid4()
                lines[invoice_id] = invoice_lines
                invoices.append(
                    (
                        invoice_id,
                        b.id,
                        period.start,
                        period.end,
                        conf.invoice_prefix,
                        as_of.year,
                        as_of,
                        due,
                        tenant.currency,
                        b.language,
                        subtotal,
                        tax,
                        total,
                        b.bill_to,
                    )
                )
        if not invoices:
            if new_credit_notes:
                await allocate(conn, [b.id for b, _lines in credits])
            return []
        # Numbered as they are written, and written with COPY like any bulk load: under the
        # counter lock nobody else is issuing invoices here, and what was already invoiced was
        # re-read under it. Should a row exist anyway, the unique key on (subscriber, period)
        # fails the whole chunk, which rolls back with no gap in the numbers.
        now = dt.datetime.now(dt.UTC)
        columns = [
            "id",
            "kind",
            "subscriber_id",
            "period_start",
            "period_end",
            "series",
            "year",
            "issue_date",
            "due_date",
            "currency",
            "language",
            "subtotal",
            "tax_total",
            "total",
            "amount_paid",
            "status",
            "bill_to",
            "issuer_id",
            "number",
            "number_text",
            "created_at",
        ]
        records = []
        for n, inv in enumerate(invoices, start=first_number):
            (
                invoice_id,
                sub,
                start,
                end,
                series,
                year,
                issued,
                due_on,
                cur,
                lang,
                subtotal,
                tax,
                total,
                bill_to,
            ) = inv
            records.append(
                (
                    invoice_id,
                    "invoice",
                    sub,
                    start,
                    end,
                    series,
                    year,
                    issued,
                    due_on,
                    cur,
                    lang,
                    subtotal,
                    tax,
                    total,
                    Decimal(0),
                    "paid" if total == 0 else "open",
                    bill_to,
                    issuer_id,
                    n,
                    format_number(series, year, n),
                    now,
                )
            )
        await conn.copy_records_to_table(
            "invoice", schema_name=tenant.schema, columns=columns, records=records
        )
        ordered = [inv[0] for inv in invoices]
        await conn.execute(
            "UPDATE number_counter SET next_number = $3 WHERE series = $1 AND year = $2",
            conf.invoice_prefix,
            as_of.year,
            first_number + len(ordered),
        )
        await issuing.copy_lines(conn, tenant, {i: lines[i] for i in ordered})
        subscribers = list({inv[1] for inv in invoices})
        subscribers += [b.id for b, _lines in credits]
        await allocate(conn, subscribers)
        await audit.record(
            actor,
            "billing.invoiced",
            "billing_run",
            "",
            as_of=as_of.isoformat(),
            invoices=len(ordered),
        )
        # Each new invoice is emailed with its PDF by the workers; one message per chunk.
        enqueue_after_commit(scope, "billing.email_invoices", tenant.id, [str(i) for i in ordered])
    return ordered


async def _overdue(
    conn: Any, as_of: dt.date, grace_days: int, among: list[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Active subscribers with an invoice past due and grace, not exempt, not covered by
    credit (only those in `among`, when given), in id order."""
    overdue = OVERDUE_SQL.format(sub="s.id", grace="$2::int", day="$1::date")
    return [
        r["id"]
        for r in await conn.fetch(
            f"SELECT s.id FROM subscriber s WHERE s.status = 'active' AND EXISTS ({overdue})"
            " AND ($3::uuid[] IS NULL OR s.id = ANY($3::uuid[]))"
            " AND NOT EXISTS (SELECT 1 FROM suspension_exemption e"
            "   WHERE e.subscriber_id = s.id AND e.until >= $1)"
            " AND (SELECT coalesce(sum(i.total - i.amount_paid), 0) FROM invoice i"
            "   WHERE i.subscriber_id = s.id AND i.status = 'open') >"
            "  (SELECT coalesce(sum(p.unallocated), 0) FROM payment p"
            "   WHERE p.subscriber_id = s.id AND p.status = 'posted')"
            " ORDER BY s.id",
            as_of,
            grace_days,
            among,
        )
    ]


async def _suspensions(tenant: TenantRef, as_of: dt.date, actor: Actor, report: RunReport) -> None:
    async with tenant_scope(tenant) as scope:
        conn = scope.connection
        conf = await settings.load()
        candidates = await _overdue(conn, as_of, conf.grace_days)
        resumable = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM subscriber WHERE status = 'suspended' AND suspension_reason ="
                " 'non_payment' ORDER BY id"
            )
        ]
        # Every row this pass may change is locked up front (see lock_subscribers).
        await lock_subscribers(candidates + resumable)
        # Read again under the locks: a payment or a staff action that committed meanwhile
        # counts (a payment's own reactivation waits for these locks, then runs).
        candidates = await _overdue(conn, as_of, conf.grace_days, candidates)
        active = int(await conn.fetchval("SELECT count(*) FROM subscriber WHERE status = 'active'"))
        limit = conf.max_suspension_share * Decimal(active)
        if len(candidates) >= 3 and Decimal(len(candidates)) > limit:
            report.halted_reason = _(
                "{count} of {active} active subscribers would be suspended, more than the "
                "allowed share; no one was suspended. Check the payments, then run again."
            ).format(count=len(candidates), active=active)
            await audit.record(
                actor,
                "billing.suspension_halted",
                "billing_run",
                "",
                candidates=len(candidates),
                active=active,
            )
            enqueue_after_commit(
                scope, "billing.alert_suspension_halt", tenant.id, len(candidates), active
            )
        else:
            note = _("Invoice past due and grace period ({as_of})").format(as_of=as_of)
            for sid in candidates:
                if await suspend_for_non_payment(sid, actor, note):
                    report.suspended.append(sid)
        # Paid by other means (a credit note, a manual correction): resume them too.
        for sid in resumable:
            if await reactivate_if_clear(
                sid, as_of, conf.grace_days, actor, _("Nothing overdue any more")
            ):
                report.reactivated.append(sid)


async def run(
    tenant: TenantRef, as_of: dt.date, actor: Actor, progress: Progress | None = None
) -> RunReport:
    report = RunReport(as_of=as_of)
    async with tenant_scope(tenant) as scope:
        conf = await settings.load()
        plans = await _plans(scope.connection)
        # The seller as this run's documents show it, frozen once for the whole run (from the
        # same settings as its prefix and tax rate) and shared by every invoice it issues.
        issuer_id = await snapshots.freeze(scope.connection, snapshots.issuer_of(conf, tenant))
        # Skip who is invoiced beyond as_of already (a re-run is then nearly free); keep the
        # recently cancelled, who may be owed a credit note.
        ids = [
            r["id"]
            for r in await scope.connection.fetch(
                "SELECT s.id FROM subscriber s WHERE s.billing_start_date <= $1"
                " AND (s.status IN ('active', 'suspended') AND NOT EXISTS (SELECT 1 FROM invoice i"
                "   WHERE i.subscriber_id = s.id AND i.kind = 'invoice' AND i.period_end > $1)"
                "  OR s.status = 'cancelled' AND s.cancelled_at > $1::date - 92)"
                " ORDER BY s.id",
                as_of,
            )
        ]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        report.invoiced += await _invoice_chunk(tenant, chunk, as_of, actor, conf, plans, issuer_id)
        if progress:
            progress(min(start + CHUNK, len(ids)), len(ids))
    if not ids:
        # Still refuse a date before issued invoices, as a run with work would.
        async with tenant_scope(tenant) as scope:
            await issuing.lock_series(scope.connection, conf.invoice_prefix, as_of.year, as_of)
        if progress:
            progress(0, 0)
    await _suspensions(tenant, as_of, actor, report)
    return report
