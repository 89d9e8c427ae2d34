"""When a thing happened: `occurred_at` from the client (the offline app), checked."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from app.core.i18n import _
from app.core.problems import Invalid
from app.core.timeutil import now
from tenants.registry import TenantRef

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far ahead of our clock a device's clock may run."""


def parse_occurred_at(
    value: str | None, not_before: dt.datetime | None = None, field: str = "occurred_at"
) -> dt.datetime:
    """Now when absent; an ISO 8601 time with an offset otherwise, not in the future."""
    current = now()
    if value is None:
        return current
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid({field: _("Use an ISO 8601 time such as 2025-03-01T14:30:00Z.")}) from None
    if parsed.tzinfo is None:
        raise Invalid({field: _("Give the time with its offset from UTC, e.g. a final Z.")})
    parsed = parsed.astimezone(dt.UTC)
    if parsed > current + CLOCK_SKEW:
        raise Invalid({field: _("This time is in the future.")})
    if not_before is not None and parsed < not_before - CLOCK_SKEW:
        raise Invalid({field: _("This time is before the work order was created.")})
    return parsed


def tenant_zone(tenant: TenantRef) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(tenant.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def local_date(tenant: TenantRef, moment: dt.datetime) -> dt.date:
    """The tenant's calendar day at `moment` (billing days are the tenant's days)."""
    return moment.astimezone(tenant_zone(tenant)).date()


def parse_date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid({field: _("Use an ISO 8601 date such as 2025-03-01.")}) from None
