"""Corrections for periods already invoiced.

Invoices go out at the start of a period. When the plan changes inside a period that was
already billed, or the subscriber cancels before it ends, the period's charge is recomputed
with what is known now and compared with what its invoices (minus credit notes) charged; the
difference becomes an adjustment line on the next invoice, or — for a cancelled subscriber,
who gets no next invoice — a credit note. Comparing totals, rather than remembering which
changes were already corrected, makes a repeated or concurrent run correct nothing twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from app.billing import compose
from app.billing.periods import periods_starting_by
from app.billing.settings import Settings


async def charged(
    conn: Any, subscriber_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[dt.date, Decimal]]:
    """Net plan charges per subscriber and period start, credit notes subtracted."""
    rows = await conn.fetch(
        "SELECT i.subscriber_id, l.service_start,"
        " sum(CASE WHEN i.kind = 'credit_note' THEN -l.amount ELSE l.amount END) AS amount"
        " FROM invoice_line l JOIN invoice i ON i.id = l.invoice"
        " WHERE i.subscriber_id = ANY($1::uuid[]) AND i.status <> 'void'"
        " AND l.service_start IS NOT NULL GROUP BY 1, 2",
        subscriber_ids,
    )
    out: dict[uuid.UUID, dict[dt.date, Decimal]] = defaultdict(dict)
    for r in rows:
        out[r["subscriber_id"]][r["service_start"]] = r["amount"]
    return out


async def corrections(
    conn: Any,
    billables: list[compose.Billable],
    last_invoiced: dict[uuid.UUID, dt.date],
    plans: dict[uuid.UUID, compose.Plan],
    conf: Settings,
    currency: str,
) -> dict[uuid.UUID, list[compose.Line]]:
    candidates = [b for b in billables if b.id in last_invoiced and (b.changes or b.cancelled_on)]
    if not candidates:
        return {}
    already = await charged(conn, [b.id for b in candidates])
    out: dict[uuid.UUID, list[compose.Line]] = {}
    for b in candidates:
        expected: dict[dt.date, Decimal] = {}
        rate: dict[dt.date, Decimal] = {}
        for period in periods_starting_by(
            b.billing_start,
            last_invoiced[b.id],
            conf.billing_policy,
            conf.billing_day,
            b.cancelled_on,
        ):
            lines = compose.lines_for(
                b, period, plans, currency, conf.tax_rate, conf.billing_policy, conf.billing_day
            )
            expected[period.start] = compose.plan_charge(lines)
            rate[period.start] = lines[0].tax_rate if lines else conf.tax_rate
        fixes = []
        for start in sorted(set(expected) | set(already.get(b.id, {}))):
            difference = expected.get(start, Decimal(0)) - already.get(b.id, {}).get(
                start, Decimal(0)
            )
            if difference != 0:
                fixes.append(
                    compose.adjustment(
                        b, start, difference, rate.get(start, conf.tax_rate), currency
                    )
                )
        if fixes:
            out[b.id] = fixes
    return out
