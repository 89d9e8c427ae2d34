"""The tenant's billing settings: one row, created with defaults on first use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.billing.tables import BillingSettings
from tenants.scope import current_scope


@dataclass(frozen=True)
class Settings:
    invoice_prefix: str
    credit_note_prefix: str
    payment_terms_days: int
    grace_days: int
    billing_policy: str
    billing_day: int | None
    tax_label: str
    tax_rate: Decimal
    legal_name: str
    legal_address: str
    tax_id: str
    max_suspension_share: Decimal
    run_hour: int


FIELDS = tuple(Settings.__dataclass_fields__)


async def load() -> Settings:
    """Call inside the tenant scope."""
    row = await _row()
    return Settings(**{f: row[f] for f in FIELDS})


async def _row() -> dict[str, Any]:
    existing: dict[str, Any] | None = (
        await BillingSettings.select().where(BillingSettings.singleton.eq(True)).first()
    )
    if existing is not None:
        return existing
    conn = current_scope().connection
    await conn.execute(
        "INSERT INTO billing_settings (id, singleton, updated_at)"
        " VALUES (gen_random_uuid(), true, $1) ON CONFLICT (singleton) DO NOTHING",
        dt.datetime.now(dt.UTC),
    )
    row: dict[str, Any] | None = (
        await BillingSettings.select().where(BillingSettings.singleton.eq(True)).first()
    )
    assert row is not None  # inserted just above
    return row
