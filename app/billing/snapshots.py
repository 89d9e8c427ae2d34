"""Documents are snapshots: what an issued invoice or credit note shows is frozen when issued.

The document's own row holds its lines, totals, currency, language (the locale its numbers and
dates are formatted in) and bill-to; the seller's side (legal name, address, tax ID, tax label)
is an `issuer_snapshot` row that the document points at. PDFs and emails are built from these
alone, never from the current billing settings, so changing the settings changes only documents
issued afterwards. The database holds the line: snapshot rows are append-only, and the
document columns of a numbered invoice cannot be updated (`public.wisp_invoice_frozen()` and the
triggers of migration `tenant_2026_12_03t17_57_30_000000`).

Snapshots are shared by content (the SHA-256 of their JSON), so a billing run of thousands of
invoices writes at most one new row and puts its id in each invoice it copies in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from app.billing import settings
from app.core.i18n import LANGUAGES
from tenants.registry import TenantRef

VERSION = 1


@dataclass(frozen=True)
class Issuer:
    """The seller as a document prints it."""

    name: str
    address: str
    tax_id: str
    tax_label: str

    def to_json(self) -> str:
        # Canonical (sorted keys, no spaces): equal details give equal digests.
        return json.dumps({"v": VERSION, **asdict(self)}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_data(cls, data: Any) -> Issuer:
        raw = json.loads(data) if isinstance(data, str) else dict(data)
        return cls(
            name=str(raw.get("name", "")),
            address=str(raw.get("address", "")),
            tax_id=str(raw.get("tax_id", "")),
            tax_label=str(raw.get("tax_label", "")),
        )


def document_language(*choices: str | None) -> str:
    """The first of the choices we have a catalog for. Resolved when issuing (the subscriber's
    language, then the tenant's) and stored, so a document never changes language later."""
    for choice in choices:
        if choice in LANGUAGES:
            return str(choice)
    return LANGUAGES[0]


def issuer_of(conf: settings.Settings, tenant: TenantRef) -> Issuer:
    """The seller per the settings now; the company name stands in until a legal name is set."""
    return Issuer(
        name=conf.legal_name or tenant.name,
        address=conf.legal_address,
        tax_id=conf.tax_id,
        tax_label=conf.tax_label,
    )


async def freeze(conn: Any, issuer: Issuer) -> uuid.UUID:
    """The id of the snapshot row holding these details, written if it is new.

    Usually the settings have not changed since the last document: one indexed read."""
    data = issuer.to_json()
    digest = hashlib.sha256(data.encode()).hexdigest()
    found = "SELECT id FROM issuer_snapshot WHERE digest = $1"
    existing = await conn.fetchval(found, digest)
    if existing is None:
        existing = await conn.fetchval(
            "INSERT INTO issuer_snapshot (id, digest, data, created_at)"
            " VALUES (gen_random_uuid(), $1, $2::jsonb, $3)"
            " ON CONFLICT (digest) DO NOTHING RETURNING id",
            digest,
            data,
            dt.datetime.now(dt.UTC),
        )
    if existing is None:
        # A concurrent transaction wrote it and has committed (this new statement sees it).
        existing = await conn.fetchval(found, digest)
    return uuid.UUID(str(existing))


async def freeze_current(conn: Any, tenant: TenantRef) -> uuid.UUID:
    """Freeze the seller per the settings now (for a document being issued in this transaction)."""
    return await freeze(conn, issuer_of(await settings.load(), tenant))


async def issuer_for(conn: Any, tenant: TenantRef, invoice: dict[str, Any]) -> Issuer:
    """The seller a document was issued with.

    A document written without a snapshot (by code older than snapshots, while a deploy rolls
    out; the migration froze every one that existed) is frozen now, once: from then on it too
    stays as it is.
    """
    issuer_id = invoice["issuer_id"]
    if issuer_id is None:
        fresh = await freeze_current(conn, tenant)
        issuer_id = await conn.fetchval(
            "UPDATE invoice SET issuer_id = $2 WHERE id = $1 AND issuer_id IS NULL"
            " RETURNING issuer_id",
            invoice["id"],
            fresh,
        ) or await conn.fetchval("SELECT issuer_id FROM invoice WHERE id = $1", invoice["id"])
    data = await conn.fetchval("SELECT data FROM issuer_snapshot WHERE id = $1", issuer_id)
    return Issuer.from_data(data)
