"""What an invoice for one period says: pure functions, no database."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from babel.dates import format_date

from app.billing import money
from app.billing.periods import Period, full_period_days
from app.core.i18n import _, use_language


@functools.lru_cache(maxsize=4096)
def _date(day: dt.date, language: str) -> str:
    """Babel's formatting costs ~50 µs; a billing run formats the same few dates thousands of
    times."""
    return str(format_date(day, "medium", locale=language))


@dataclass(frozen=True, slots=True)
class Plan:
    id: uuid.UUID
    name: str
    price: Decimal
    setup_fee: Decimal | None
    tax_rate: Decimal | None  # percent; None means the tenant's default rate


@dataclass(frozen=True, slots=True)
class PlanChange:
    effective: dt.date
    from_plan: uuid.UUID
    to_plan: uuid.UUID


@dataclass
class Billable:
    id: uuid.UUID
    name: str
    email: str
    address: str
    language: str
    plan_id: uuid.UUID
    billing_start: dt.date
    cancelled_on: dt.date | None
    changes: list[PlanChange] = field(default_factory=list)

    def plan_on(self, day: dt.date) -> uuid.UUID:
        current = self.changes[0].from_plan if self.changes else self.plan_id
        for change in self.changes:
            if change.effective <= day:
                current = change.to_plan
        return current

    @property
    def bill_to(self) -> str:
        return "\n".join(p for p in (self.name, self.address, self.email) if p)


@dataclass(frozen=True, slots=True)
class Line:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    service_start: dt.date | None = None
    """For plan charges and their corrections: the period they are for."""


def _segments(b: Billable, period: Period) -> list[tuple[uuid.UUID, dt.date, dt.date]]:
    """Runs of days within the period on the same plan: [(plan, start, end_exclusive)]."""
    cuts = sorted({c.effective for c in b.changes if period.start < c.effective < period.end})
    bounds = [period.start, *cuts, period.end]
    out: list[tuple[uuid.UUID, dt.date, dt.date]] = []
    for start, end in itertools.pairwise(bounds):
        plan = b.plan_on(start)
        if out and out[-1][0] == plan:
            out[-1] = (plan, out[-1][1], end)
        else:
            out.append((plan, start, end))
    return out


def lines_for(
    b: Billable,
    period: Period,
    plans: dict[uuid.UUID, Plan],
    currency: str,
    default_tax_rate: Decimal,
    policy: str,
    billing_day: int | None,
) -> list[Line]:
    regular_days = full_period_days(period, b.billing_start, policy, billing_day)
    lines: list[Line] = []
    with use_language(b.language):
        for plan_id, start, end in _segments(b, period):
            plan = plans[plan_id]
            days = (end - start).days
            rate = plan.tax_rate if plan.tax_rate is not None else default_tax_rate
            last = end - dt.timedelta(days=1)
            span = _("{start} to {end}").format(
                start=_date(start, b.language), end=_date(last, b.language)
            )
            if days == regular_days:
                quantity, amount, kind = Decimal(1), money.round_money(plan.price, currency), "plan"
            else:
                quantity = (Decimal(days) / Decimal(regular_days)).quantize(Decimal("0.000001"))
                amount = money.round_money(
                    plan.price * Decimal(days) / Decimal(regular_days), currency
                )
                kind = "proration"
                span = _("{span} ({days} of {of} days)").format(
                    span=span, days=days, of=regular_days
                )
            lines.append(
                Line(
                    kind,
                    f"{plan.name} — {span}",
                    quantity,
                    plan.price,
                    amount,
                    rate,
                    money.round_money(amount * rate / 100, currency),
                    period.start,
                )
            )
        if period.start == b.billing_start:
            plan = plans[b.plan_on(period.start)]
            if plan.setup_fee:
                rate = plan.tax_rate if plan.tax_rate is not None else default_tax_rate
                fee = money.round_money(plan.setup_fee, currency)
                lines.append(
                    Line(
                        "setup",
                        _("Installation and setup fee"),
                        Decimal(1),
                        fee,
                        fee,
                        rate,
                        money.round_money(fee * rate / 100, currency),
                    )
                )
    return lines


def totals(lines: list[Line]) -> tuple[Decimal, Decimal, Decimal]:
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax = sum((line.tax_amount for line in lines), Decimal(0))
    return subtotal, tax, subtotal + tax


def plan_charge(lines: list[Line]) -> Decimal:
    """What the plan lines of one period charge (not the setup fee)."""
    return sum((line.amount for line in lines if line.kind in ("plan", "proration")), Decimal(0))


def adjustment(
    b: Billable, start: dt.date, difference: Decimal, rate: Decimal, currency: str
) -> Line:
    """A correction for a period already invoiced: a plan change made after the invoice, or a
    cancellation before the period ended. Positive charges more, negative credits."""
    with use_language(b.language):
        description = _("Correction for the period from {start}: plan change or cancellation")
        description = description.format(start=format_date(start, "medium", locale=b.language))
    return Line(
        "adjustment",
        description,
        Decimal(1),
        difference,
        difference,
        rate,
        money.round_money(difference * rate / 100, currency),
        start,
    )


def credit_lines(
    invoice_lines: list[tuple[Decimal, Decimal, Decimal]],
    amount: Decimal,
    total: Decimal,
    currency: str,
    description: str,
) -> list[Line]:
    """The lines of a credit note for `amount` (tax included) of an invoice whose lines are
    `invoice_lines` [(tax rate, net amount, tax amount)] and whose total is `total`.

    The credit is split over the invoice's tax rates in proportion to what each rate charged
    (the last rate takes the rounding), and each part is split into net and tax at its own
    rate, so every line states the rate of the tax it carries back.
    """
    charged: dict[Decimal, Decimal] = {}
    for rate, net, tax in invoice_lines:
        key = Decimal(rate).normalize()
        charged[key] = charged.get(key, Decimal(0)) + net + tax
    parts = [(rate, gross) for rate, gross in sorted(charged.items()) if gross != 0]
    if not parts:
        parts = [(Decimal(0), total)]
    lines: list[Line] = []
    left = amount
    for i, (rate, gross) in enumerate(parts):
        part = left if i == len(parts) - 1 else money.round_money(amount * gross / total, currency)
        left -= part
        net = money.round_money(part * 100 / (100 + rate), currency)
        lines.append(Line("credit", description, Decimal(1), net, net, rate, part - net))
    return lines
