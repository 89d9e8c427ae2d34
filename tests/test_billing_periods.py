"""Billing periods and money: every day of service billed exactly once, in any month."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.billing import money, periods
from app.billing.periods import ANNIVERSARY, FIXED_DAY, Period

dates = st.dates(min_value=dt.date(1999, 1, 1), max_value=dt.date(2099, 12, 31))


def take(start: dt.date, policy: str, day: int | None, n: int) -> list[Period]:
    return list(itertools.islice(periods.periods(start, policy, day), n))


@settings(max_examples=400, deadline=None)
@given(start=dates, n=st.integers(1, 40))
def test_anniversary_periods_tile_the_calendar(start: dt.date, n: int) -> None:
    ps = take(start, ANNIVERSARY, None, n)
    assert ps[0].start == start
    for a, b in itertools.pairwise(ps):
        assert a.end == b.start
    for p in ps:
        assert 28 <= p.days <= 31
        # Back on the anchor day whenever the month has it (no drift after February).
        import calendar

        last = calendar.monthrange(p.start.year, p.start.month)[1]
        assert p.start.day == min(start.day, last)


@settings(max_examples=400, deadline=None)
@given(start=dates, day=st.integers(1, 31), n=st.integers(1, 40))
def test_fixed_day_periods_tile_the_calendar(start: dt.date, day: int, n: int) -> None:
    ps = take(start, FIXED_DAY, day, n)
    assert ps[0].start == start
    for a, b in itertools.pairwise(ps):
        assert a.end == b.start
    import calendar

    for p in ps[1:]:
        last = calendar.monthrange(p.start.year, p.start.month)[1]
        assert p.start.day == min(day, last)
        assert 28 <= p.days <= 31
    assert 1 <= ps[0].days <= 31


@settings(max_examples=300, deadline=None)
@given(
    start=dates,
    as_of_days=st.integers(0, 800),
    cancel_days=st.none() | st.integers(1, 900),
    policy=st.sampled_from([ANNIVERSARY, FIXED_DAY]),
    day=st.integers(1, 31),
)
def test_every_day_of_service_is_billed_exactly_once(
    start: dt.date, as_of_days: int, cancel_days: int | None, policy: str, day: int
) -> None:
    as_of = start + dt.timedelta(days=as_of_days)
    until = start + dt.timedelta(days=cancel_days) if cancel_days else None
    ps = periods.periods_starting_by(start, as_of, policy, day, until)
    billed = [p.start + dt.timedelta(days=i) for p in ps for i in range(p.days)]
    assert len(billed) == len(set(billed))  # no day twice
    end = ps[-1].end
    assert billed == [start + dt.timedelta(days=i) for i in range((end - start).days)]  # no gap
    assert end > as_of or (until is not None and end == until)
    if until is not None:
        assert end <= until


def test_leap_years_and_month_ends() -> None:
    ps = take(dt.date(2024, 1, 31), ANNIVERSARY, None, 4)
    assert [p.start for p in ps] == [
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
    ]
    ps = take(dt.date(2023, 1, 30), ANNIVERSARY, None, 3)
    assert [p.start for p in ps] == [
        dt.date(2023, 1, 30),
        dt.date(2023, 2, 28),
        dt.date(2023, 3, 30),
    ]
    ps = take(dt.date(2025, 3, 10), FIXED_DAY, 1, 3)
    assert ps[0] == Period(dt.date(2025, 3, 10), dt.date(2025, 4, 1))
    assert ps[1] == Period(dt.date(2025, 4, 1), dt.date(2025, 5, 1))


def test_proration_denominator_is_the_regular_period() -> None:
    start = dt.date(2025, 3, 10)
    first = take(start, FIXED_DAY, 1, 1)[0]
    assert periods.full_period_days(first, start, FIXED_DAY, 1) == 31  # March 1 – April 1
    cut = Period(dt.date(2025, 2, 10), dt.date(2025, 2, 20))
    assert periods.full_period_days(cut, dt.date(2025, 1, 10), ANNIVERSARY, None) == 28


def test_local_dates_across_daylight_saving() -> None:
    # 2025-03-09 06:30 UTC is still March 8 in New York (EST, UTC-5) …
    moment = dt.datetime(2025, 3, 9, 4, 30, tzinfo=dt.UTC)
    assert periods.local_date(moment, "America/New_York") == dt.date(2025, 3, 8)
    # … and 2025-11-02 04:30 UTC is Nov 2 00:30 EDT, before the clocks go back.
    moment = dt.datetime(2025, 11, 2, 4, 30, tzinfo=dt.UTC)
    assert periods.local_date(moment, "America/New_York") == dt.date(2025, 11, 2)
    assert periods.local_date(moment, "Asia/Tokyo") == dt.date(2025, 11, 2)
    assert periods.local_date(moment, "Pacific/Pago_Pago") == dt.date(2025, 11, 1)


@given(
    amount=st.decimals(
        min_value=Decimal("-1e9"),
        max_value=Decimal("1e9"),
        places=6,
        allow_nan=False,
        allow_infinity=False,
    ),
    currency=st.sampled_from(["JPY", "CLP", "USD", "EUR", "MXN", "KWD", "BHD"]),
)
def test_rounding_follows_the_currency_exponent(amount: Decimal, currency: str) -> None:
    rounded = money.round_money(amount, currency)
    assert -rounded.as_tuple().exponent <= money.exponent(currency) or rounded == 0
    assert abs(rounded - amount) <= money.quantum(currency) / 2


def test_parse_amount_refuses_numbers_and_excess_digits() -> None:
    assert money.parse_amount("15.00", "USD") == Decimal("15.00")
    assert money.parse_amount("15", "JPY") == Decimal("15")
    assert money.parse_amount("15.5", "JPY") is None
    assert money.parse_amount("1.234", "KWD") == Decimal("1.234")
    assert money.parse_amount("1.2345", "KWD") is None
    assert money.parse_amount(15.0, "USD") is None
    assert money.parse_amount("NaN", "USD") is None
    assert money.parse_amount("1e400", "USD") is None
