"""Billing reports and bookkeeping exports (CSV whose totals reconcile with the invoices)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import msgspec

from app.billing import money
from app.billing.periods import local_today
from tenants.registry import TenantRef
from tenants.scope import tenant_scope


class SubscriberBilling(msgspec.Struct):
    subscriber_id: str
    name: str
    status: str
    last_billed_on: str | None
    next_due_date: str | None
    balance: str
    currency: str


class AgingBucket(msgspec.Struct):
    bucket: str
    invoices: int
    amount: str


class AgingReport(msgspec.Struct):
    as_of: str
    currency: str
    buckets: list[AgingBucket]
    total: str


async def subscribers_report(tenant: TenantRef) -> list[SubscriberBilling]:
    """Each subscriber with status, the last billed date, the next open due date, balance."""
    async with tenant_scope(tenant) as scope:
        rows = await scope.connection.fetch(
            "SELECT s.id, s.name, s.status,"
            " (SELECT max(issue_date) FROM invoice i WHERE i.subscriber_id = s.id"
            "   AND i.kind = 'invoice') AS billed,"
            " (SELECT min(due_date) FROM invoice i WHERE i.subscriber_id = s.id"
            "   AND i.status = 'open') AS due,"
            " (SELECT coalesce(sum(total - amount_paid), 0) FROM invoice i"
            "   WHERE i.subscriber_id = s.id AND i.status = 'open')"
            " - (SELECT coalesce(sum(unallocated), 0) FROM payment p"
            "   WHERE p.subscriber_id = s.id AND p.status = 'posted') AS balance"
            " FROM subscriber s ORDER BY s.name, s.id"
        )
    cur = tenant.currency
    return [
        SubscriberBilling(
            subscriber_id=str(r["id"]),
            name=r["name"],
            status=r["status"],
            last_billed_on=r["billed"].isoformat() if r["billed"] else None,
            next_due_date=r["due"].isoformat() if r["due"] else None,
            balance=money.to_string(r["balance"], cur),
            currency=cur,
        )
        for r in rows
    ]


BUCKETS = (
    ("current", None, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


async def aging(tenant: TenantRef, as_of: dt.date | None = None) -> AgingReport:
    """Open balances by how many days past their due date they are."""
    day = as_of or local_today(tenant.timezone)
    async with tenant_scope(tenant) as scope:
        rows = await scope.connection.fetch(
            "SELECT $1::date - due_date AS late, total - amount_paid AS open FROM invoice"
            " WHERE kind = 'invoice' AND status = 'open' AND total > amount_paid",
            day,
        )
    counts = {name: 0 for name, _lo, _hi in BUCKETS}
    amounts = {name: Decimal(0) for name, _lo, _hi in BUCKETS}
    for r in rows:
        late = int(r["late"])
        for name, lo, hi in BUCKETS:
            if (lo is None and late <= 0) or (
                lo is not None and late >= lo and (hi is None or late <= hi)
            ):
                counts[name] += 1
                amounts[name] += r["open"]
                break
    cur = tenant.currency
    return AgingReport(
        as_of=day.isoformat(),
        currency=cur,
        buckets=[AgingBucket(n, counts[n], money.to_string(amounts[n], cur)) for n in counts],
        total=money.to_string(sum(amounts.values(), Decimal(0)), cur),
    )


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = str(value)
    # Spreadsheets execute cells starting with these: neutralise formula injection.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


async def export(tenant: TenantRef, kind: str, since: dt.date | None, until: dt.date | None) -> str:
    """`invoices`, `credit-notes` or `payments` as CSV, one row per document."""
    args: list[Any] = [since or dt.date(1900, 1, 1), until or dt.date(9999, 12, 31)]
    async with tenant_scope(tenant) as scope:
        conn = scope.connection
        if kind == "payments":
            rows = await conn.fetch(
                "SELECT p.id, p.paid_on, p.subscriber_id, s.name, p.method, p.reference,"
                " p.amount, p.unallocated, p.currency, p.status FROM payment p"
                " LEFT JOIN subscriber s ON s.id = p.subscriber_id"
                " WHERE p.paid_on BETWEEN $1 AND $2 ORDER BY p.paid_on, p.created_at",
                *args,
            )
            return _csv(
                [
                    "payment_id",
                    "paid_on",
                    "subscriber_id",
                    "subscriber",
                    "method",
                    "reference",
                    "amount",
                    "unallocated",
                    "currency",
                    "status",
                ],
                [
                    [
                        r["id"],
                        r["paid_on"],
                        r["subscriber_id"],
                        r["name"],
                        r["method"],
                        r["reference"],
                        money.to_string(r["amount"], r["currency"]),
                        money.to_string(r["unallocated"], r["currency"]),
                        r["currency"],
                        r["status"],
                    ]
                    for r in rows
                ],
            )
        doc = "credit_note" if kind == "credit-notes" else "invoice"
        rows = await conn.fetch(
            "SELECT i.*, c.number_text AS corrects FROM invoice i"
            " LEFT JOIN invoice c ON c.id = i.corrects_id"
            " WHERE i.kind = $3 AND i.issue_date BETWEEN $1 AND $2"
            " ORDER BY i.series, i.year, i.number",
            *args,
            doc,
        )
    return _csv(
        [
            "number",
            "issue_date",
            "due_date",
            "subscriber_id",
            "bill_to",
            "period_start",
            "period_end",
            "subtotal",
            "tax",
            "total",
            "paid_or_credited",
            "balance",
            "currency",
            "status",
            "corrects",
            "reason",
        ],
        [
            [
                r["number_text"],
                r["issue_date"],
                r["due_date"],
                r["subscriber_id"],
                r["bill_to"].split("\n")[0],
                r["period_start"],
                r["period_end"],
                money.to_string(r["subtotal"], r["currency"]),
                money.to_string(r["tax_total"], r["currency"]),
                money.to_string(r["total"], r["currency"]),
                money.to_string(r["amount_paid"], r["currency"]),
                money.to_string(
                    Decimal(0) if r["status"] == "void" else r["total"] - r["amount_paid"],
                    r["currency"],
                ),
                r["currency"],
                r["status"],
                r["corrects"],
                r["void_reason"],
            ]
            for r in rows
        ],
    )
