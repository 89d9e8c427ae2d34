"""Reading invoices, voiding them and correcting them with credit notes.

An issued invoice is never edited: a mistake is voided (while nothing was paid on it) or
corrected by a credit note — its own document, numbered in its own series.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec

from app.billing import compose, issuing, money, settings, snapshots
from app.billing.numbering import format_number, next_number
from app.billing.periods import local_today
from app.billing.schemas import InvoiceLineOut, InvoiceOut
from app.billing.status import reactivate_if_clear
from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _, use_language
from app.core.idempotency import IdempotencyKey
from app.core.pagination import decode_cursor, next_cursor
from app.core.problems import Conflict, Invalid, NotFound
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


STATUSES = tuple(InvoiceStatus)


def invoice_out(row: Any, lines: list[Any] | None = None) -> InvoiceOut:
    cur = row["currency"]
    balance = Decimal(0) if row["status"] == "void" else row["total"] - row["amount_paid"]
    return InvoiceOut(
        id=str(row["id"]),
        kind=row["kind"],
        number=row["number_text"],
        subscriber_id=str(row["subscriber_id"]),
        issue_date=row["issue_date"].isoformat(),
        due_date=row["due_date"].isoformat(),
        period_start=row["period_start"].isoformat() if row["period_start"] else None,
        period_end=row["period_end"].isoformat() if row["period_end"] else None,
        subtotal=money.to_string(row["subtotal"], cur),
        tax_total=money.to_string(row["tax_total"], cur),
        total=money.to_string(row["total"], cur),
        amount_paid=money.to_string(row["amount_paid"], cur),
        balance=money.to_string(balance, cur),
        currency=cur,
        status=row["status"],
        void_reason=row["void_reason"],
        corrects_id=str(row["corrects_id"]) if row["corrects_id"] else None,
        lines=None
        if lines is None
        else [
            InvoiceLineOut(
                kind=line["kind"],
                description=line["description"],
                quantity=str(line["quantity"].normalize()),
                unit_price=money.to_string(line["unit_price"], cur),
                amount=money.to_string(line["amount"], cur),
                tax_rate=str(line["tax_rate"].normalize()),
                tax_amount=money.to_string(line["tax_amount"], cur),
            )
            for line in lines
        ],
    )


async def access_invoice(invoice_id: uuid.UUID, lock: bool = False) -> Any:
    row = await current_scope().connection.fetchrow(
        "SELECT * FROM invoice WHERE id = $1" + (" FOR UPDATE" if lock else ""), invoice_id
    )
    if row is None:
        raise NotFound(_("No such invoice."))
    return row


async def list_invoices(
    tenant: TenantRef,
    subscriber_id: uuid.UUID | None,
    status: str | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[InvoiceOut], str | None]:
    """Newest first by (issue_date, id): a stable order for cursor paging."""
    if status is not None and status not in STATUSES:
        raise Invalid({"status": _("Choose one of: {values}.").format(values=", ".join(STATUSES))})
    clauses: list[str] = ["true"]
    args: list[object] = []
    if subscriber_id is not None:
        args.append(subscriber_id)
        clauses.append(f"subscriber_id = ${len(args)}")
    if status is not None:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    if kind is not None:
        args.append(kind)
        clauses.append(f"kind = ${len(args)}")
    if cursor:
        args += list(decode_cursor(cursor, dt.date.fromisoformat, uuid.UUID))
        clauses.append(f"(issue_date, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    async with tenant_scope(tenant) as scope:
        rows = await scope.connection.fetch(
            f"SELECT * FROM invoice WHERE {' AND '.join(clauses)}"
            f" ORDER BY issue_date DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
    items = [invoice_out(r) for r in rows]
    return items, next_cursor(rows, limit, lambda r: (r["issue_date"], r["id"]))


async def get_invoice(tenant: TenantRef, invoice_id: uuid.UUID) -> InvoiceOut:
    async with tenant_scope(tenant) as scope:
        row = await access_invoice(invoice_id)
        lines = await scope.connection.fetch(
            "SELECT * FROM invoice_line WHERE invoice = $1 ORDER BY position", invoice_id
        )
    return invoice_out(row, list(lines))


async def void(tenant: TenantRef, invoice_id: uuid.UUID, reason: str, actor: Actor) -> InvoiceOut:
    if not reason.strip():
        raise Invalid({"reason": _("Say why the invoice is voided.")})
    async with tenant_scope(tenant):
        row = await access_invoice(invoice_id, lock=True)
        if row["status"] == "void":
            raise Conflict(_("This invoice is already void."))
        if row["amount_paid"] > 0:
            raise Conflict(
                _("Money was applied to this invoice: correct it with a credit note instead.")
            )
        conn = current_scope().connection
        updated = await conn.fetchrow(
            "UPDATE invoice SET status = 'void', void_reason = $2 WHERE id = $1 RETURNING *",
            invoice_id,
            reason.strip()[:500],
        )
        await audit.record(
            actor,
            "invoice.voided",
            "invoice",
            invoice_id,
            number=row["number_text"],
            reason=reason.strip()[:500],
        )
        conf = await settings.load()
        await reactivate_if_clear(
            row["subscriber_id"],
            local_today(tenant.timezone),
            conf.grace_days,
            actor,
            _("Invoice voided"),
        )
    return invoice_out(updated)


async def credit_note(
    tenant: TenantRef,
    invoice_id: uuid.UUID,
    reason: str,
    amount_text: str | None,
    actor: Actor,
    idempotency: IdempotencyKey | None = None,
) -> InvoiceOut:
    """A credit note for part or all of an invoice's open balance, applied to it at once.
    A retry with the same `Idempotency-Key` answers the same note instead of numbering another."""
    if not reason.strip():
        raise Invalid({"reason": _("Say why the invoice is corrected.")})
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, InvoiceOut)
        conn = scope.connection
        row = await access_invoice(invoice_id, lock=True)
        if row["kind"] != "invoice" or row["status"] == "void":
            raise Conflict(_("Only an issued, not voided invoice can be corrected."))
        balance = row["total"] - row["amount_paid"]
        amount = balance
        if amount_text is not None:
            parsed = money.parse_amount(amount_text, row["currency"])
            if parsed is None or parsed <= 0:
                raise Invalid({"amount": _("Enter a positive amount as a decimal string.")})
            amount = parsed
        if amount <= 0 or amount > balance:
            raise Invalid(
                {
                    "amount": _(
                        "The credit cannot exceed the invoice's open balance ({balance})."
                    ).format(balance=balance)
                }
            )
        conf = await settings.load()
        today = local_today(tenant.timezone)
        number = await next_number(conn, conf.credit_note_prefix, today.year)
        note_id = uuid.uuid4()
        # The note is a document of its own: today's seller, the credited invoice's language
        # (the subscriber's), and the tax rates the invoice charged.
        issuer_id = await snapshots.freeze(conn, snapshots.issuer_of(conf, tenant))
        language = snapshots.document_language(row["language"], tenant.language)
        with use_language(language):
            description = _("Correction of invoice {number}: {reason}").format(
                number=row["number_text"], reason=reason.strip()[:200]
            )
        charged = await conn.fetch(
            "SELECT tax_rate, amount, tax_amount FROM invoice_line WHERE invoice = $1",
            invoice_id,
        )
        lines = compose.credit_lines(
            [(r["tax_rate"], r["amount"], r["tax_amount"]) for r in charged],
            amount,
            row["total"],
            row["currency"],
            description,
        )
        subtotal, tax, _total = compose.totals(lines)
        await conn.execute(
            "INSERT INTO invoice (id, kind, subscriber_id, series, year, number, number_text,"
            " issue_date, due_date, currency, language, subtotal, tax_total, total, amount_paid,"
            " status, void_reason, corrects_id, bill_to, issuer_id, created_at) VALUES ($1,"
            " 'credit_note', $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $12, 'paid', $13,"
            " $14, $15, $16, now())",
            note_id,
            row["subscriber_id"],
            conf.credit_note_prefix,
            today.year,
            number,
            format_number(conf.credit_note_prefix, today.year, number),
            today,
            row["currency"],
            language,
            subtotal,
            tax,
            amount,
            reason.strip()[:500],
            invoice_id,
            row["bill_to"],
            issuer_id,
        )
        await issuing.copy_lines(conn, tenant, {note_id: lines})
        await conn.execute(
            "UPDATE invoice SET amount_paid = amount_paid + $2, status = CASE WHEN"
            " amount_paid + $2 >= total THEN 'paid' ELSE status END WHERE id = $1",
            invoice_id,
            amount,
        )
        await audit.record(
            actor,
            "invoice.credited",
            "invoice",
            invoice_id,
            credit_note=str(note_id),
            amount=str(amount),
        )
        await reactivate_if_clear(
            row["subscriber_id"],
            today,
            conf.grace_days,
            actor,
            _("Invoice corrected by a credit note"),
        )
        out = invoice_out(await access_invoice(note_id))
        await scope.remember(msgspec.to_builtins(out))
    return out
