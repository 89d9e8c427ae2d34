"""Billing periods as local calendar dates in the tenant's time zone.

A period is [start, end): `end` is the next period's start. Anniversary billing anchors every
period on the activation day, computed from the anchor each time (never from the previous
period), so a subscriber activated on the 31st is billed on Feb 28/29, Mar 31, Apr 30…
without drifting to the 28th for ever. Fixed-day billing bills everyone on one day of the month;
the first period runs from activation to the next billing day and is prorated.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

ANNIVERSARY = "anniversary"
FIXED_DAY = "fixed_day"


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date  # exclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@functools.lru_cache(maxsize=65536)
def add_months(anchor: dt.date, months: int, day: int | None = None) -> dt.date:
    """The date `months` after `anchor`'s month, on `day` (default anchor's), clamped to the
    month's last day."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day or anchor.day, last))


def _first_fixed_boundary(start: dt.date, billing_day: int) -> dt.date:
    """The first billing day strictly after `start`."""
    this_month = add_months(start.replace(day=1), 0, billing_day)
    return this_month if this_month > start else add_months(start.replace(day=1), 1, billing_day)


def periods(
    billing_start: dt.date, policy: str = ANNIVERSARY, billing_day: int | None = None
) -> Iterator[Period]:
    """Every period from the billing start on, forever (callers stop when they have enough)."""
    if policy == ANNIVERSARY:
        k = 0
        while True:
            yield Period(
                add_months(billing_start, k, billing_start.day),
                add_months(billing_start, k + 1, billing_start.day),
            )
            k += 1
    if billing_day is None or not 1 <= billing_day <= 31:
        raise ValueError("fixed-day billing needs a billing day between 1 and 31")
    first = _first_fixed_boundary(billing_start, billing_day)
    # A start that falls on the billing day itself begins a full period.
    if add_months(billing_start.replace(day=1), 0, billing_day) == billing_start:
        first = billing_start
    else:
        yield Period(billing_start, first)
    anchor = first.replace(day=1)
    k = 0
    while True:
        yield Period(add_months(anchor, k, billing_day), add_months(anchor, k + 1, billing_day))
        k += 1


def periods_starting_by(
    billing_start: dt.date,
    as_of: dt.date,
    policy: str = ANNIVERSARY,
    billing_day: int | None = None,
    until: dt.date | None = None,
) -> list[Period]:
    """Periods that have started on or before `as_of` (bill in advance), cut at `until`
    (a cancellation: service ends at the start of that day)."""
    out = []
    for period in periods(billing_start, policy, billing_day):
        if period.start > as_of or (until is not None and period.start >= until):
            break
        if until is not None and period.end > until:
            period = Period(period.start, until)
        out.append(period)
    return out


def full_period_days(
    period: Period, billing_start: dt.date, policy: str, billing_day: int | None
) -> int:
    """The length of the regular period this one belongs to (the proration denominator)."""
    if policy == ANNIVERSARY:
        k = (period.start.year - billing_start.year) * 12 + period.start.month - billing_start.month
        if add_months(billing_start, k, billing_start.day) != period.start:
            k -= 1
        regular = Period(
            add_months(billing_start, k, billing_start.day),
            add_months(billing_start, k + 1, billing_start.day),
        )
        return regular.days
    assert billing_day is not None
    # The regular fixed-day period that contains this period's last day.
    last_day = period.end - dt.timedelta(days=1)
    boundary = add_months(last_day.replace(day=1), 0, billing_day)
    if boundary > last_day:
        boundary = add_months(last_day.replace(day=1), -1, billing_day)
    return (add_months(boundary.replace(day=1), 1, billing_day) - boundary).days


def fraction(days: int, of_days: int) -> Decimal:
    return Decimal(days) / Decimal(of_days)


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    """The calendar date of a UTC instant in the tenant's time zone."""
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def local_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    return local_date(now or dt.datetime.now(dt.UTC), timezone)
