"""Putting billable subscribers straight into a tenant's tables, for the billing tests."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from tenants.registry import TenantRef, tenant_by_slug
from tenants.scope import tenant_scope


async def tenant_of(tc: Any) -> TenantRef:
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    return tenant


async def add_plan(
    tenant: TenantRef,
    price: str,
    setup_fee: str | None = None,
    tax_rate: str | None = None,
    name: str = "Tier 2",
) -> uuid.UUID:
    plan_id = uuid.uuid4()
    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "INSERT INTO rate_plan (id, name, download_kbps, upload_kbps, monthly_price,"
            " setup_fee, tax_rate, currency, created_at, updated_at)"
            " VALUES ($1, $2, 5000, 500, $3, $4, $5, $6, now(), now())",
            plan_id,
            name,
            Decimal(price),
            Decimal(setup_fee) if setup_fee else None,
            Decimal(tax_rate) if tax_rate else None,
            tenant.currency,
        )
    return plan_id


async def add_subscriber(
    tenant: TenantRef,
    plan_id: uuid.UUID,
    start: dt.date,
    status: str = "active",
    language: str | None = None,
    name: str = "Ana Pérez",
) -> uuid.UUID:
    sid = uuid.uuid4()
    mac = "02:00:" + ":".join(f"{b:02x}" for b in sid.bytes[:4])
    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "INSERT INTO subscriber (id, name, email, phone, address, language, plan, cpe_mac,"
            " cpe_authenticated_at, status, billing_start_date, activated_at, created_at,"
            " updated_at) VALUES ($1, $2, $3, '', 'Calle 1', $4, $5, $6, now(), $7, $8, now(),"
            " now(), now())",
            sid,
            name,
            f"{sid.hex[:10]}@example.com",
            language,
            plan_id,
            mac,
            status,
            start,
        )
    return sid


async def fetch(tenant: TenantRef, sql: str, *args: Any) -> list[Any]:
    async with tenant_scope(tenant) as scope:
        return list(await scope.connection.fetch(sql, *args))


async def status_of(tenant: TenantRef, sid: uuid.UUID) -> tuple[str, str | None]:
    rows = await fetch(
        tenant, "SELECT status, suspension_reason FROM subscriber WHERE id = $1", sid
    )
    return rows[0]["status"], rows[0]["suspension_reason"]
