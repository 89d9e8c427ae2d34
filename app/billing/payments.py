"""Payments: posted by finance (or paid online), applied to the oldest open invoices; a
payment that clears what is overdue reactivates the subscriber in the same transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from app.billing import money, settings
from app.billing.allocation import allocate
from app.billing.periods import local_today
from app.billing.schemas import AllocationOut, PaymentIn, PaymentOut
from app.billing.status import reactivate_if_clear
from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Conflict, Invalid, NotFound
from app.subscribers.access import access_subscriber
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope

METHODS = ("cash", "bank_transfer", "card", "check", "mobile_money", "online", "other")


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Invalid({field: _("This is not a valid id.")}) from None


async def access_payment(payment_id: uuid.UUID, lock: bool = False) -> Any:
    row = await current_scope().connection.fetchrow(
        "SELECT * FROM payment WHERE id = $1" + (" FOR UPDATE" if lock else ""), payment_id
    )
    if row is None:
        raise NotFound(_("No such payment."))
    return row


def _validate(data: PaymentIn, tenant: TenantRef) -> tuple[uuid.UUID, Decimal, dt.date]:
    errors: dict[str, str] = {}
    try:
        subscriber_id = uuid.UUID(data.subscriber_id)
    except ValueError:
        errors["subscriber_id"] = _("This is not a valid id.")
    amount = money.parse_amount(data.amount, tenant.currency)
    if amount is None or amount <= 0:
        errors["amount"] = _('Enter a positive amount as a decimal string, e.g. "15.00".')
    if data.method not in METHODS:
        errors["method"] = _("Choose one of: {methods}.").format(methods=", ".join(METHODS))
    if len(data.reference) > 120:
        errors["reference"] = _("Use at most 120 characters.")
    today = local_today(tenant.timezone)
    paid_on = today
    if data.paid_on is not None:
        try:
            paid_on = dt.date.fromisoformat(data.paid_on)
        except ValueError:
            errors["paid_on"] = _("Use a date like 2026-01-31.")
        else:
            if paid_on > today:
                errors["paid_on"] = _("A payment cannot be dated in the future.")
    if errors:
        raise Invalid(errors)
    assert amount is not None
    return subscriber_id, amount, paid_on


async def payment_out(row: Any) -> PaymentOut:
    conn = current_scope().connection
    allocations = await conn.fetch(
        "SELECT a.invoice, a.amount, i.number_text FROM payment_allocation a"
        " JOIN invoice i ON i.id = a.invoice WHERE a.payment = $1 ORDER BY i.issue_date",
        row["id"],
    )
    status = await conn.fetchval(
        "SELECT status FROM subscriber WHERE id = $1", row["subscriber_id"]
    )
    currency = row["currency"]
    return PaymentOut(
        id=str(row["id"]),
        subscriber_id=str(row["subscriber_id"]),
        amount=money.to_string(row["amount"], currency),
        currency=currency,
        method=row["method"],
        reference=row["reference"],
        paid_on=row["paid_on"].isoformat(),
        status=row["status"],
        unallocated=money.to_string(row["unallocated"], currency),
        allocations=[
            AllocationOut(
                str(a["invoice"]), a["number_text"], money.to_string(a["amount"], currency)
            )
            for a in allocations
        ],
        subscriber_status=str(status),
    )


async def post(
    tenant: TenantRef, data: PaymentIn, actor: Actor, idempotency: IdempotencyKey | None = None
) -> tuple[PaymentOut, bool]:
    """Returns the payment and whether it is new (a repeated (method, reference) is not)."""
    subscriber_id, amount, paid_on = _validate(data, tenant)
    reference = data.reference.strip()
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return PaymentOut(**scope.replay), False
        conn = scope.connection
        await access_subscriber(subscriber_id)
        payment_id = await conn.fetchval(
            "INSERT INTO payment (id, subscriber_id, amount, currency, method, reference,"
            " paid_on, status, unallocated, created_at, created_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'posted', $3, now(), $8)"
            " ON CONFLICT (method, reference) WHERE reference <> '' AND status = 'posted'"
            " DO NOTHING RETURNING id",
            uuid.uuid4(),
            subscriber_id,
            amount,
            tenant.currency,
            data.method,
            reference,
            paid_on,
            actor.id,
        )
        if payment_id is None:
            existing = await conn.fetchrow(
                "SELECT * FROM payment WHERE method = $1 AND reference = $2 AND status = 'posted'",
                data.method,
                reference,
            )
            if existing["subscriber_id"] != subscriber_id or existing["amount"] != amount:
                raise Conflict(
                    _(
                        "A payment with this method and reference was already posted "
                        "with other details."
                    ),
                    field="reference",
                )
            out = await payment_out(existing)
            await scope.remember(out)
            return out, False
        await allocate(conn, [subscriber_id])
        conf = await settings.load()
        await audit.record(
            actor,
            "payment.posted",
            "payment",
            payment_id,
            subscriber_id=str(subscriber_id),
            amount=str(amount),
            method=data.method,
            reference=reference,
        )
        await reactivate_if_clear(
            subscriber_id,
            local_today(tenant.timezone),
            conf.grace_days,
            actor,
            _("Payment received"),
        )
        out = await payment_out(await access_payment(payment_id))
        await scope.remember(out)
    return out, True


async def reverse(
    tenant: TenantRef, payment_id: uuid.UUID, reason: str, actor: Actor
) -> PaymentOut:
    if not reason.strip():
        raise Invalid({"reason": _("Say why the payment is reversed.")})
    async with tenant_scope(tenant):
        conn = current_scope().connection
        # Locked, so of two reversals at once the second sees the first's and is refused.
        payment = await access_payment(payment_id, lock=True)
        if payment["status"] != "posted":
            raise Conflict(_("This payment was already reversed."))
        allocations = await conn.fetch(
            "DELETE FROM payment_allocation WHERE payment = $1 RETURNING invoice, amount",
            payment_id,
        )
        for a in allocations:
            await conn.execute(
                "UPDATE invoice SET amount_paid = amount_paid - $2,"
                " status = CASE WHEN status = 'paid' THEN 'open' ELSE status END"
                " WHERE id = $1",
                a["invoice"],
                a["amount"],
            )
        await conn.execute(
            "UPDATE payment SET status = 'reversed', unallocated = 0, reversed_at = now(),"
            " reversal_reason = $2 WHERE id = $1",
            payment_id,
            reason.strip()[:500],
        )
        # Other credit the subscriber still has may cover the reopened invoices.
        await allocate(conn, [payment["subscriber_id"]])
        await audit.record(
            actor,
            "payment.reversed",
            "payment",
            payment_id,
            reason=reason.strip()[:500],
            amount=str(payment["amount"]),
        )
        return await payment_out(await access_payment(payment_id))


async def list_payments(
    tenant: TenantRef, subscriber_id: uuid.UUID | None, limit: int, cursor: str | None
) -> tuple[list[PaymentOut], str | None]:
    args: list[Any] = []
    clauses = ["true"]
    if subscriber_id is not None:
        args.append(subscriber_id)
        clauses.append(f"subscriber_id = ${len(args)}")
    if cursor:
        try:
            stamp, _sep, last = cursor.partition("|")
            args += [dt.datetime.fromisoformat(stamp), uuid.UUID(last)]
        except ValueError:
            raise Invalid({"cursor": _("This value is not valid.")}) from None
        clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    async with tenant_scope(tenant) as scope:
        rows = await scope.connection.fetch(
            f"SELECT * FROM payment WHERE {' AND '.join(clauses)}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
            *args,
        )
        items = [await payment_out(r) for r in rows]
    nxt = f"{rows[-1]['created_at'].isoformat()}|{rows[-1]['id']}" if len(rows) == limit else None
    return items, nxt
