"""Applying money to invoices: oldest open invoice first; what is left stays as credit.

Called inside the tenant scope whenever money or invoices appear (a payment, a billing run).
Rows are locked (`FOR UPDATE`) so a payment and a run touching the same subscriber queue
instead of double-spending a credit.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any


async def allocate(conn: Any, subscriber_ids: list[uuid.UUID]) -> int:
    """Spend unallocated payments on open invoices; returns how many allocations were made."""
    payments = await conn.fetch(
        "SELECT id, subscriber_id, unallocated FROM payment"
        " WHERE subscriber_id = ANY($1::uuid[]) AND status = 'posted' AND unallocated > 0"
        " ORDER BY paid_on, created_at FOR UPDATE",
        subscriber_ids,
    )
    if not payments:
        return 0
    with_credit = list({p["subscriber_id"] for p in payments})
    invoices = await conn.fetch(
        "SELECT id, subscriber_id, total - amount_paid AS open FROM invoice"
        " WHERE subscriber_id = ANY($1::uuid[]) AND kind = 'invoice' AND status = 'open'"
        " AND total > amount_paid ORDER BY issue_date, number FOR UPDATE",
        with_credit,
    )
    open_by_sub: dict[uuid.UUID, list[list[Any]]] = {}
    for inv in invoices:
        open_by_sub.setdefault(inv["subscriber_id"], []).append([inv["id"], inv["open"]])
    rows: list[tuple[uuid.UUID, uuid.UUID, Decimal]] = []
    for p in payments:
        left: Decimal = p["unallocated"]
        for entry in open_by_sub.get(p["subscriber_id"], []):
            if left <= 0:
                break
            take = min(left, entry[1])
            if take <= 0:
                continue
            rows.append((p["id"], entry[0], take))
            entry[1] -= take
            left -= take
    if not rows:
        return 0
    await conn.execute(
        "INSERT INTO payment_allocation (id, payment, invoice, amount, created_at)"
        " SELECT gen_random_uuid(), u.p, u.i, u.a, now()"
        " FROM unnest($1::uuid[], $2::uuid[], $3::numeric[]) AS u(p, i, a)",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    await conn.execute(
        "UPDATE payment p SET unallocated = p.unallocated - s.amount"
        " FROM (SELECT u.p, sum(u.a) AS amount FROM unnest($1::uuid[], $2::numeric[]) AS u(p, a)"
        " GROUP BY u.p) s WHERE p.id = s.p",
        [r[0] for r in rows],
        [r[2] for r in rows],
    )
    await conn.execute(
        "UPDATE invoice i SET amount_paid = i.amount_paid + s.amount,"
        " status = CASE WHEN i.amount_paid + s.amount >= i.total THEN 'paid' ELSE i.status END"
        " FROM (SELECT u.i, sum(u.a) AS amount FROM unnest($1::uuid[], $2::numeric[]) AS u(i, a)"
        " GROUP BY u.i) s WHERE i.id = s.i",
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    return len(rows)
