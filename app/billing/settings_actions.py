"""Changing billing settings (and the tenant's currency and time zone, kept in the registry)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from babel.numbers import list_currencies

from app.billing import settings
from app.billing.periods import ANNIVERSARY, FIXED_DAY
from app.billing.schemas import SettingsOut, SettingsPatch
from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.problems import Invalid
from tenants import hosts
from tenants.registry import Tenant, TenantRef, tenant_by_id
from tenants.scope import tenant_scope

LEGAL_FIELDS = ("legal_name", "legal_address", "tax_id")
"""What identifies the seller on its invoices. Each starts blank (signup does not ask; until a
legal name is set the company name is printed), may be changed at any time (documents already
issued keep what they were issued with), but once set is never blanked again: a document issued
afterwards would lack what the tenant's earlier ones showed, and what its law requires."""


def settings_out(tenant: TenantRef, s: settings.Settings) -> SettingsOut:
    return SettingsOut(
        currency=tenant.currency,
        timezone=tenant.timezone,
        invoice_prefix=s.invoice_prefix,
        credit_note_prefix=s.credit_note_prefix,
        payment_terms_days=s.payment_terms_days,
        grace_days=s.grace_days,
        billing_policy=s.billing_policy,
        billing_day=s.billing_day,
        tax_label=s.tax_label,
        tax_rate=str(s.tax_rate.normalize()),
        legal_name=s.legal_name,
        legal_address=s.legal_address,
        tax_id=s.tax_id,
        max_suspension_share=str(s.max_suspension_share.normalize()),
        run_hour=s.run_hour,
    )


async def read(tenant: TenantRef) -> SettingsOut:
    async with tenant_scope(tenant):
        return settings_out(tenant, await settings.load())


def _decimal(value: str, low: Decimal, high: Decimal) -> Decimal | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() and low <= number <= high else None


def _validate(patch: dict[str, Any], current: settings.Settings) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key in ("invoice_prefix", "credit_note_prefix"):
        if key in patch:
            v = str(patch[key]).strip().upper()
            if not (1 <= len(v) <= 12 and v.replace("-", "").isalnum()):
                errors[key] = _("Use 1 to 12 letters, digits or hyphens.")
            out[key] = v
    for key, low, high in (
        ("payment_terms_days", 0, 120),
        ("grace_days", 0, 120),
        ("run_hour", 0, 23),
    ):
        if key in patch:
            if not isinstance(patch[key], int) or not low <= patch[key] <= high:
                errors[key] = _("Use a whole number from {low} to {high}.").format(
                    low=low, high=high
                )
            out[key] = patch[key]
    policy = patch.get("billing_policy", current.billing_policy)
    if policy not in (ANNIVERSARY, FIXED_DAY):
        errors["billing_policy"] = _("Choose anniversary or fixed_day.")
    out["billing_policy"] = policy
    day = patch.get("billing_day", current.billing_day)
    if policy == FIXED_DAY and (not isinstance(day, int) or not 1 <= day <= 31):
        errors["billing_day"] = _("Fixed-day billing needs a day from 1 to 31.")
    out["billing_day"] = day if policy == FIXED_DAY else None
    if "tax_rate" in patch:
        rate = _decimal(str(patch["tax_rate"]), Decimal(0), Decimal(100))
        if rate is None:
            errors["tax_rate"] = _("Use a percentage from 0 to 100 as a decimal string.")
        out["tax_rate"] = rate
    if "max_suspension_share" in patch:
        share = _decimal(str(patch["max_suspension_share"]), Decimal(0), Decimal(1))
        if share is None:
            errors["max_suspension_share"] = _('Use a fraction from 0 to 1, e.g. "0.25".')
        out["max_suspension_share"] = share
    for key, limit in (
        ("tax_label", 40),
        ("legal_name", 200),
        ("legal_address", 1000),
        ("tax_id", 60),
    ):
        if key in patch:
            v = str(patch[key]).strip()
            if len(v) > limit:
                errors[key] = _("Use at most {limit} characters.").format(limit=limit)
            elif not v and key in LEGAL_FIELDS and getattr(current, key):
                errors[key] = _(
                    "Invoices print this: it can be changed but not left blank once set."
                )
            out[key] = v
    if "currency" in patch and str(patch["currency"]).upper() not in list_currencies():
        errors["currency"] = _("Use an ISO 4217 currency code such as USD or EUR.")
    if "timezone" in patch:
        try:
            zoneinfo.ZoneInfo(str(patch["timezone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = _("Use an IANA time zone such as America/Mexico_City.")
    if errors:
        raise Invalid(errors)
    return out


async def update(tenant: TenantRef, data: SettingsPatch, actor: Actor) -> SettingsOut:
    patch = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    async with tenant_scope(tenant) as scope:
        current = await settings.load()
        values = _validate(patch, current)
        conn = scope.connection
        if (
            "currency" in patch
            and patch["currency"].upper() != tenant.currency
            and (await conn.fetchval("SELECT count(*) FROM invoice"))
        ):
            raise Invalid(
                {
                    "currency": _(
                        "Invoices exist in {currency}; the currency can no longer change."
                    ).format(currency=tenant.currency)
                }
            )
        assignments = ", ".join(f"{k} = ${i + 1}" for i, k in enumerate(values))
        await conn.execute(
            f"UPDATE billing_settings SET {assignments}, updated_at = ${len(values) + 1}"
            " WHERE singleton",
            *values.values(),
            dt.datetime.now(dt.UTC),
        )
        registry: dict[Any, Any] = {}
        if "currency" in patch:
            registry[Tenant.currency] = patch["currency"].upper()
        if "timezone" in patch:
            registry[Tenant.timezone] = patch["timezone"]
        if registry:
            await Tenant.update(registry).where(Tenant.id == tenant.id)
        await audit.record(
            actor, "billing.settings_changed", "billing_settings", "", changed=sorted(patch)
        )
        fresh = await settings.load()
    if registry:
        hosts.forget()
    tenant = await tenant_by_id(tenant.id) or tenant
    return settings_out(tenant, fresh)
