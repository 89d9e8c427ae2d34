"""The tenant registry: tables in `public`, nothing tenant-owned."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from piccolo.columns import (
    UUID,
    ForeignKey,
    OnDelete,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Tenant(Table, tablename="tenant", schema="public"):
    id = UUID(primary_key=True)
    slug = Varchar(length=40, unique=True)
    name = Varchar(length=200)
    schema_name = Varchar(length=63, unique=True)
    status = Varchar(length=20, default="active")
    language = Varchar(length=8, default="en")
    currency = Varchar(length=3, default="USD")
    timezone = Varchar(length=64, default="UTC")
    created_at = Timestamptz()


class TenantDomain(Table, tablename="tenant_domain", schema="public"):
    """A custom domain a WISP points at its portal; used only once verified."""

    id = UUID(primary_key=True)
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade)
    hostname = Varchar(length=253, unique=True)
    verified_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class OwnerConfirmation(Table, tablename="owner_confirmation", schema="public"):
    """Whether a tenant's owner has confirmed their email address (`tenants/confirmation.py`).

    Anyone can sign up with any address, so until the owner proves the mailbox is theirs the
    tenant may mail no one but that address and may not enroll gateways. The link's token is
    stored hashed. A tenant with no row counts as unconfirmed: every signup writes one.
    """

    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, primary_key=True)
    owner_email = Varchar(length=320)
    token_hash = Varchar(length=64, null=True, default=None, unique=True)
    """The sha256 of the newest link's token; kept after use, so a second click just says done."""
    expires_at = Timestamptz(null=True, default=None)
    confirmed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


PUBLIC_TABLES: list[type[Table]] = [Tenant, TenantDomain, OwnerConfirmation]

TEMPLATE_SCHEMA = "tenant_template"

ACTIVE = "active"
SUSPENDED = "suspended"


def schema_for(tenant_id: uuid.UUID) -> str:
    """Schema names come from the internal id only, never from user text."""
    return f"t_{tenant_id.hex}"


@dataclass(frozen=True, slots=True)
class TenantRef:
    """A resolved tenant, passed explicitly to everything that works inside it."""

    id: uuid.UUID
    slug: str
    name: str
    schema: str
    status: str
    language: str
    currency: str
    timezone: str

    @classmethod
    def from_row(cls, row: dict[str, object]) -> TenantRef:
        return cls(
            id=row["id"],  # type: ignore[arg-type]
            slug=str(row["slug"]),
            name=str(row["name"]),
            schema=str(row["schema_name"]),
            status=str(row["status"]),
            language=str(row["language"]),
            currency=str(row["currency"]),
            timezone=str(row["timezone"]),
        )

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE


async def tenant_by_id(tenant_id: uuid.UUID | str) -> TenantRef | None:
    row = await Tenant.select().where(Tenant.id == uuid.UUID(str(tenant_id))).first()
    return TenantRef.from_row(row) if row else None


async def tenant_by_slug(slug: str) -> TenantRef | None:
    row = await Tenant.select().where(Tenant.slug == slug).first()
    return TenantRef.from_row(row) if row else None


async def tenant_by_domain(hostname: str) -> TenantRef | None:
    domain = (
        await TenantDomain.select(TenantDomain.tenant)
        .where(TenantDomain.hostname == hostname, TenantDomain.verified_at.is_not_null())
        .first()
    )
    if not domain:
        return None
    return await tenant_by_id(domain["tenant"])


async def all_tenants() -> list[TenantRef]:
    rows = await Tenant.select().order_by(Tenant.created_at)
    return [TenantRef.from_row(r) for r in rows]


DDL = (
    # Shared by every tenant's append-only tables (the audit log, the desired-state log).
    "CREATE OR REPLACE FUNCTION public.wisp_forbid_change() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RAISE EXCEPTION 'rows of %.% are append-only', TG_TABLE_SCHEMA,"
    " TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$",
)
"""Raw DDL of the public track (`tenants/ddl.py`)."""
