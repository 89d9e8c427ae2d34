"""Documents are snapshots (issue 12, defects 0 and 0b): an issued invoice or credit note says
forever what it said when it was issued, whatever happens to the settings, the company or the
subscriber afterwards; credit notes carry back the tax they credit, in the document's language."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.billing_support import add_plan, add_subscriber, fetch, tenant_of
from tests.conftest import require_weasyprint
from tests.test_invoice_pdf import pdf_text

SELLER = {
    "legal_name": "Demo WISP S.R.L.",
    "legal_address": "Av. Corrientes 1234\nBuenos Aires",
    "tax_id": "30-71234567-8",
    "tax_label": "IVA",
    "tax_rate": "21",
}
# Every setting but the currency (refused once invoices exist), each to something else.
EVERYTHING_CHANGED = {
    "timezone": "America/Panama",
    "invoice_prefix": "FAC",
    "credit_note_prefix": "NCR",
    "payment_terms_days": 30,
    "grace_days": 2,
    "billing_policy": "fixed_day",
    "billing_day": 5,
    "tax_label": "ITBMS",
    "tax_rate": "7",
    "legal_name": "Otra Razón Social S.A.",
    "legal_address": "Calle 50, Ciudad de Panamá",
    "tax_id": "155-1-2026 DV 12",
    "max_suspension_share": "0.5",
    "run_hour": 3,
}


async def run(tc: Any, as_of: dt.date) -> None:
    r = await tc.post("/api/v1/billing/runs", json={"as_of": as_of.isoformat()})
    assert r.status_code == 201, r.text


async def documents(tc: Any, sid: uuid.UUID, kind: str = "invoice") -> list[dict[str, Any]]:
    r = await tc.get(f"/api/v1/invoices?subscriber_id={sid}&kind={kind}&limit=100")
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda i: (i["issue_date"], i["number"]))


async def pdf_of(tc: Any, document_id: str) -> str:
    r = await tc.get(f"/api/v1/invoices/{document_id}/pdf")
    assert r.status_code == 200, r.text
    return pdf_text(r.content)


async def taxed_spanish_invoice(tc: Any) -> tuple[Any, uuid.UUID, dict[str, Any]]:
    """A tenant (English, like its manager) billing a Spanish subscriber 100.00 + 21 % IVA."""
    tenant = await tenant_of(tc)
    r = await tc.patch("/api/v1/billing/settings", json=SELLER)
    assert r.status_code == 200, r.text
    plan = await add_plan(tenant, "100.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 3, 1), language="es")
    await run(tc, dt.date(2026, 3, 1))
    [invoice] = await documents(tc, sid)
    assert invoice["total"] == "121.00"
    return tenant, sid, invoice


# Defect 0 ---------------------------------------------------------------------------------------


async def test_defect_0_issued_invoice_pdf_unchanged_after_settings_change(
    make_tenant: Any,
) -> None:
    require_weasyprint()
    from app.billing.schemas import SettingsPatch
    from tenants import hosts
    from tenants.registry import Tenant
    from tenants.scope import tenant_scope

    tc, other = await make_tenant(), await make_tenant()
    tenant, sid, invoice = await taxed_spanish_invoice(tc)
    r = await tc.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes",
        json={"reason": "corte de servicio", "amount": "10.00"},
    )
    assert r.status_code == 201, r.text
    note = r.json()
    before = {doc: await pdf_of(tc, doc) for doc in (invoice["id"], note["id"])}
    for text in before.values():
        for shown in ("Demo WISP S.R.L.", "Av. Corrientes 1234", "30-71234567-8", "IVA", "21 %"):
            assert shown in text, shown

    # Every billing setting changes (the test fails if a setting is added and left out) ...
    assert set(EVERYTHING_CHANGED) == set(SettingsPatch.__struct_fields__) - {"currency"}
    r = await tc.patch("/api/v1/billing/settings", json=EVERYTHING_CHANGED)
    assert r.status_code == 200, r.text
    r = await tc.patch("/api/v1/billing/settings", json={"currency": "EUR"})
    assert r.status_code == 422  # invoices exist in USD
    # ... and so do the company's name and language, and the subscriber.
    await Tenant.update({Tenant.name: "Renamed WISP", Tenant.language: "es"}).where(
        Tenant.id == tenant.id
    )
    hosts.forget()
    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "UPDATE subscriber SET name = 'Someone Else', address = 'Elsewhere 9',"
            " email = 'else@example.com', language = 'en' WHERE id = $1",
            sid,
        )

    after = {doc: await pdf_of(tc, doc) for doc in before}
    assert after == before

    # A document issued now shows the seller as it is now, in the subscriber's language now.
    await run(tc, dt.date(2026, 4, 5))
    newest = (await documents(tc, sid))[-1]
    assert newest["number"].startswith("FAC-")
    text = await pdf_of(tc, newest["id"])
    assert "Otra Razón Social S.A." in text and "ITBMS" in text and "INVOICE" in text.upper()
    assert "Demo WISP" not in text

    # The other tenant sees none of it.
    assert (await other.get(f"/api/v1/invoices/{invoice['id']}/pdf")).status_code == 404


async def test_defect_0_settings_refuse_to_blank_legal_fields_once_set(make_tenant: Any) -> None:
    tc, spanish = await make_tenant(), await make_tenant(language="es")
    tenant = await tenant_of(tc)
    # Never set: blank stays blank (invoices name the company until a legal name is set).
    r = await tc.patch("/api/v1/billing/settings", json={"legal_name": "", "tax_id": ""})
    assert r.status_code == 200, r.text
    r = await tc.patch("/api/v1/billing/settings", json=SELLER)
    assert r.status_code == 200, r.text

    blank = {"legal_name": "", "legal_address": "  ", "tax_id": "   ", "run_hour": 1}
    r = await tc.patch("/api/v1/billing/settings", json=blank)
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert set(errors) == {"legal_name", "legal_address", "tax_id"}
    assert "not left blank" in errors["tax_id"]
    settings = (await tc.get("/api/v1/billing/settings")).json()
    assert {k: settings[k] for k in ("legal_name", "tax_id", "run_hour")} == {
        "legal_name": "Demo WISP S.R.L.",
        "tax_id": "30-71234567-8",
        "run_hour": 6,  # nothing changed
    }
    assert (await fetch(tenant, "SELECT legal_address FROM billing_settings"))[0][
        "legal_address"
    ] == SELLER["legal_address"]
    # Changed, not removed: fine.
    r = await tc.patch("/api/v1/billing/settings", json={"tax_id": "30-99999999-1"})
    assert r.status_code == 200 and r.json()["tax_id"] == "30-99999999-1"

    # Translated, on another tenant (whose fields are its own).
    assert (await spanish.patch("/api/v1/billing/settings", json=SELLER)).status_code == 200
    r = await spanish.patch("/api/v1/billing/settings", json={"legal_name": ""})
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["field"] == "legal_name" and "no dejar en blanco" in error["message"]
    assert (await tc.get("/api/v1/billing/settings")).json()["legal_name"] == SELLER["legal_name"]


async def test_issued_documents_cannot_be_edited_in_the_database(make_tenant: Any) -> None:
    import asyncpg

    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant, _sid, invoice = await taxed_spanish_invoice(tc)
    invoice_id = uuid.UUID(invoice["id"])
    for statement in (
        "UPDATE invoice SET total = total + 1 WHERE id = $1",
        "UPDATE invoice SET bill_to = 'someone else' WHERE id = $1",
        "UPDATE invoice SET issuer_id = gen_random_uuid() WHERE id = $1",
        "UPDATE invoice SET language = 'en' WHERE id = $1",
        "DELETE FROM invoice WHERE id = $1",
        "UPDATE invoice_line SET tax_rate = 0 WHERE invoice = $1",
        "DELETE FROM invoice_line WHERE invoice = $1",
        "UPDATE issuer_snapshot SET data = '{}'"
        " WHERE id = (SELECT issuer_id FROM invoice WHERE id = $1)",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_scope(tenant) as scope:
                await scope.connection.execute(statement, invoice_id)
    # What the ledger tracks about it still moves.
    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "UPDATE invoice SET amount_paid = 1, status = 'open' WHERE id = $1", invoice_id
        )
    after = (await tc.get(f"/api/v1/invoices/{invoice['id']}")).json()
    assert after["total"] == "121.00" and after["amount_paid"] == "1.00"


# Defect 0b --------------------------------------------------------------------------------------


async def test_defect_0b_credit_note_line_tax_rate_and_language(make_tenant: Any) -> None:
    require_weasyprint()
    tc = await make_tenant()  # the staff member works in English
    _tenant, sid, invoice = await taxed_spanish_invoice(tc)
    r = await tc.post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes",
        json={"reason": "corte de 3 días", "amount": "10.00"},
    )
    assert r.status_code == 201, r.text
    note = (await tc.get(f"/api/v1/invoices/{r.json()['id']}")).json()
    assert (note["subtotal"], note["tax_total"], note["total"]) == ("8.26", "1.74", "10.00")
    [line] = note["lines"]
    assert (line["amount"], line["tax_rate"], line["tax_amount"]) == ("8.26", "21", "1.74")
    assert line["description"] == f"Corrección de la factura {invoice['number']}: corte de 3 días"

    text = await pdf_of(tc, note["id"])
    assert "NOTA DE CRÉDITO" in text.upper()
    assert "1,74 US$ 21 %" in text
    assert "0 %" not in text

    # On the invoice, the credit note is a credit, not a payment.
    text = await pdf_of(tc, invoice["id"])
    assert f"Nota de crédito {note['number']} -10,00 US$" in text
    assert "Monto pagado 0,00 US$" in text
    assert "Saldo pendiente 111,00 US$" in text
    r = await tc.post(
        "/api/v1/payments", json={"subscriber_id": str(sid), "amount": "11.00", "method": "cash"}
    )
    assert r.status_code == 201, r.text
    text = await pdf_of(tc, invoice["id"])
    assert f"Nota de crédito {note['number']} -10,00 US$" in text
    assert "Monto pagado 11,00 US$" in text
    assert "Saldo pendiente 100,00 US$" in text


async def test_defect_0b_cancellation_credit_note_in_the_subscribers_language(
    make_tenant: Any,
) -> None:
    require_weasyprint()
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    assert (await tc.patch("/api/v1/billing/settings", json=SELLER)).status_code == 200
    plan = await add_plan(tenant, "30.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 4, 1), language="es")
    await run(tc, dt.date(2026, 4, 1))
    [april] = await documents(tc, sid)
    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "UPDATE subscriber SET status = 'cancelled', cancelled_at = $2 WHERE id = $1",
            sid,
            dt.datetime(2026, 4, 21, 0, 30, tzinfo=dt.UTC),
        )
    await run(tc, dt.date(2026, 4, 22))
    [note] = await documents(tc, sid, "credit_note")
    detail = (await tc.get(f"/api/v1/invoices/{note['id']}")).json()
    assert detail["total"] == "12.10"  # 10 of 30 days of 30.00, plus 21 % IVA
    assert [(ln["tax_rate"], ln["tax_amount"]) for ln in detail["lines"]] == [("21", "2.10")]
    assert detail["lines"][0]["description"].startswith("Corrección del período")
    rows = await fetch(
        tenant, "SELECT language, issuer_id FROM invoice WHERE id = $1", uuid.UUID(note["id"])
    )
    assert rows[0]["language"] == "es" and rows[0]["issuer_id"] is not None
    # Applied to the open April invoice as a credit, not as an amount paid.
    text = await pdf_of(tc, april["id"])
    assert f"Nota de crédito {note['number']} -12,10 US$" in text
    assert "Monto pagado 0,00 US$" in text


def test_credit_note_lines_split_over_the_rates_the_invoice_charged() -> None:
    from app.billing.compose import credit_lines

    charged = [
        (Decimal("8"), Decimal("50.00"), Decimal("4.00")),
        (Decimal("21.0000"), Decimal("60.00"), Decimal("12.60")),
        (Decimal("21"), Decimal("40.00"), Decimal("8.40")),
    ]
    lines = credit_lines(charged, Decimal("35.00"), Decimal("175.00"), "USD", "x")
    assert [(ln.tax_rate, ln.amount, ln.tax_amount) for ln in lines] == [
        (Decimal("8"), Decimal("10.00"), Decimal("0.80")),
        (Decimal("21"), Decimal("20.00"), Decimal("4.20")),
    ]
    # Rounding lands on the last rate: the lines always add up to the credit.
    odd = credit_lines(charged, Decimal("33.33"), Decimal("175.00"), "USD", "x")
    assert sum(ln.amount + ln.tax_amount for ln in odd) == Decimal("33.33")
    # An invoice without lines: one line, no rate claimed.
    [bare] = credit_lines([], Decimal("5.00"), Decimal("5.00"), "CLP", "x")
    assert (bare.tax_rate, bare.amount, bare.tax_amount) == (Decimal(0), Decimal(5), Decimal(0))


# Documents from before snapshots ------------------------------------------------------------------


async def _legacy_invoice(tenant: Any, sid: uuid.UUID, number: int) -> uuid.UUID:
    """An invoice as the code before snapshots wrote it: no issuer snapshot."""
    from tenants.scope import tenant_scope

    invoice_id = uuid.uuid4()
    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "INSERT INTO invoice (id, kind, subscriber_id, series, year, number, number_text,"
            " issue_date, due_date, currency, language, total, bill_to, created_at)"
            " VALUES ($1, 'invoice', $2, 'OLD', 2025, $3, $4, '2025-12-01', '2025-12-16', 'USD',"
            " 'en', 0, 'Ana', now())",
            invoice_id,
            sid,
            number,
            f"OLD-2025-{number:06d}",
        )
    return invoice_id


async def test_documents_issued_without_a_snapshot_are_frozen_when_first_read(
    make_tenant: Any,
) -> None:
    """A document written without a seller snapshot (by code older than snapshots, during a
    rolling deploy) is frozen with the seller's details the first time it is read, in its own
    tenant only, and shares the row that later documents with the same details use."""
    from app.billing import pdf, snapshots
    from tenants.scope import tenant_scope

    tc, other = await make_tenant(), await make_tenant()
    tenant = await tenant_of(tc)
    assert (await tc.patch("/api/v1/billing/settings", json=SELLER)).status_code == 200
    plan = await add_plan(tenant, "10.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 1))
    late = await _legacy_invoice(tenant, sid, 1)
    other_old = await _legacy_invoice(await tenant_of(other), sid, 1)
    expected = snapshots.Issuer(
        SELLER["legal_name"], SELLER["legal_address"], SELLER["tax_id"], SELLER["tax_label"]
    )
    async with tenant_scope(tenant):
        first = await pdf.load_document(tenant, late)
    rows = await fetch(
        tenant,
        "SELECT s.digest FROM invoice i JOIN issuer_snapshot s ON s.id = i.issuer_id"
        " WHERE i.id = $1",
        late,
    )
    assert rows[0]["digest"] == hashlib.sha256(expected.to_json().encode()).hexdigest()
    other_rows = await fetch(
        await tenant_of(other), "SELECT issuer_id FROM invoice WHERE id = $1", other_old
    )
    assert other_rows[0]["issuer_id"] is None
    r = await tc.patch("/api/v1/billing/settings", json={"legal_name": "Changed S.A."})
    assert r.status_code == 200
    async with tenant_scope(tenant):
        second = await pdf.load_document(tenant, late)
    assert first.issuer == second.issuer == expected


async def test_concurrent_issuers_share_one_snapshot_per_content(make_tenant: Any) -> None:
    import asyncio

    from app.billing import snapshots
    from tenants.scope import tenant_scope

    a, b = await tenant_of(await make_tenant()), await tenant_of(await make_tenant())
    issuer = snapshots.Issuer("Concurrente S.A.", "Calle 1", "1-2-3", "IVA")

    async def freeze(tenant: Any, details: snapshots.Issuer) -> uuid.UUID:
        async with tenant_scope(tenant) as scope:
            return await snapshots.freeze(scope.connection, details)

    ids = await asyncio.gather(*(freeze(a, issuer) for _ in range(8)))
    assert len(set(ids)) == 1
    changed = await freeze(a, snapshots.Issuer("Concurrente S.A.", "Calle 2", "1-2-3", "IVA"))
    assert changed != ids[0]
    # Each tenant's snapshots are its own.
    assert await freeze(b, issuer) != ids[0]
    assert len(await fetch(a, "SELECT id FROM issuer_snapshot")) == 2
    assert len(await fetch(b, "SELECT id FROM issuer_snapshot")) == 1
