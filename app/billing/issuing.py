"""Writing numbered documents: the series lock, invoice lines, credit notes for cancellations.

Everything that issues a legal number goes through `lock_series` (invoices) or
`number_documents` (credit notes), inside the issuing transaction, so numbers stay gapless.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app.billing import compose, settings
from app.billing.numbering import format_number
from app.core.i18n import _, use_language
from app.core.problems import Conflict
from tenants.registry import TenantRef


async def lock_series(conn: Any, series: str, year: int, as_of: dt.date) -> int:
    """Lock the year's counter row and return the next number.

    Everything that issues invoices in this series and year queues here, so what was already
    invoiced is re-read under the lock, and issue dates and numbers always rise together: a run
    for an earlier date than an invoice already issued is refused (rolled back, no gap).
    """
    await conn.execute(
        "INSERT INTO number_counter (id, series, year, next_number)"
        " VALUES (gen_random_uuid(), $1, $2, 1) ON CONFLICT (series, year) DO NOTHING",
        series,
        year,
    )
    number = int(
        await conn.fetchval(
            "SELECT next_number FROM number_counter WHERE series = $1 AND year = $2 FOR UPDATE",
            series,
            year,
        )
    )
    latest = await conn.fetchval(
        "SELECT max(issue_date) FROM invoice WHERE kind = 'invoice' AND series = $1", series
    )
    if latest is not None and as_of < latest:
        raise Conflict(
            _(
                "Invoices were already issued on {date}; a run cannot go back before it "
                "(legal numbering follows issue dates)."
            ).format(date=latest)
        )
    return number


async def copy_lines(
    conn: Any, tenant: TenantRef, lines: dict[uuid.UUID, list[compose.Line]]
) -> None:
    await conn.copy_records_to_table(
        "invoice_line",
        schema_name=tenant.schema,
        columns=[
            "id",
            "invoice",
            "position",
            "kind",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "tax_rate",
            "tax_amount",
            "service_start",
        ],
        records=[
            (
                uuid.uuid4(),
                invoice_id,
                i,
                line.kind,
                line.description,
                line.quantity,
                line.unit_price,
                line.amount,
                line.tax_rate,
                line.tax_amount,
                line.service_start,
            )
            for invoice_id, invoice_lines in lines.items()
            for i, line in enumerate(invoice_lines)
        ],
    )


async def credit_notes(
    conn: Any,
    tenant: TenantRef,
    conf: settings.Settings,
    issuer_id: uuid.UUID,
    as_of: dt.date,
    credits: list[tuple[compose.Billable, list[compose.Line]]],
) -> list[uuid.UUID]:
    """Credit notes for cancelled subscribers charged for days they no longer have. The credit
    becomes money in hand (a `credit_note` payment), applied to whatever they still owe. Each
    note is issued with the run's seller snapshot, in the subscriber's language."""
    made: list[uuid.UUID] = []
    for b, fixes in credits:
        refund = [
            compose.Line(
                f.kind,
                f.description,
                f.quantity,
                -f.unit_price,
                -f.amount,
                f.tax_rate,
                -f.tax_amount,
                f.service_start,
            )
            for f in fixes
        ]
        subtotal, tax, total = compose.totals(refund)
        if total <= 0:
            continue  # a net charge for a cancelled subscriber is left for a person to bill
        note_id = uuid.uuid4()
        with use_language(b.language):
            reason = _("Cancelled before the end of the period")
        inserted = await conn.fetchval(
            "INSERT INTO invoice (id, kind, subscriber_id, period_start, series, year,"
            " issue_date, due_date, currency, language, subtotal, tax_total, total, amount_paid,"
            " status, void_reason, bill_to, issuer_id, created_at) VALUES ($1, 'credit_note',"
            " $2, $3, $4, $5, $3, $3, $6, $7, $8, $9, $10, $10, 'paid', $11, $12, $13, now())"
            " ON CONFLICT (subscriber_id, period_start, kind) DO NOTHING RETURNING id",
            note_id,
            b.id,
            as_of,
            conf.credit_note_prefix,
            as_of.year,
            tenant.currency,
            b.language,
            subtotal,
            tax,
            total,
            reason,
            b.bill_to,
            issuer_id,
        )
        if inserted is None:
            continue
        await number_documents(conn, conf.credit_note_prefix, as_of.year, [note_id])
        await copy_lines(conn, tenant, {note_id: refund})
        number = await conn.fetchval("SELECT number_text FROM invoice WHERE id = $1", note_id)
        await conn.execute(
            "INSERT INTO payment (id, subscriber_id, amount, currency, method, reference,"
            " paid_on, status, unallocated, created_at) VALUES (gen_random_uuid(), $1, $2, $3,"
            " 'credit_note', $4, $5, 'posted', $2, now())",
            b.id,
            total,
            tenant.currency,
            number,
            as_of,
        )
        made.append(note_id)
    return made


async def number_documents(conn: Any, series: str, year: int, ordered: list[uuid.UUID]) -> None:
    """Give the new invoices consecutive numbers from the locked counter row."""
    await conn.execute(
        "INSERT INTO number_counter (id, series, year, next_number)"
        " VALUES (gen_random_uuid(), $1, $2, 1) ON CONFLICT (series, year) DO NOTHING",
        series,
        year,
    )
    first = int(
        await conn.fetchval(
            "UPDATE number_counter SET next_number = next_number + $3"
            " WHERE series = $1 AND year = $2 RETURNING next_number - $3",
            series,
            year,
            len(ordered),
        )
    )
    numbers = list(range(first, first + len(ordered)))
    await conn.execute(
        "UPDATE invoice SET number = u.n, number_text = u.t"
        " FROM unnest($1::uuid[], $2::int[], $3::text[]) AS u(id, n, t) WHERE invoice.id = u.id",
        ordered,
        numbers,
        [format_number(series, year, n) for n in numbers],
    )
