"""Invoice and credit-note PDFs: languages, currencies, escaping, the fetcher, the render
processes, and the email that carries the PDF to the subscriber."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import multiprocessing
import os
import secrets
import shutil
import subprocess
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from tests.conftest import ROOT, eventually, require_weasyprint


@pytest.fixture(autouse=True)
def _weasyprint() -> None:
    require_weasyprint()


ARTIFACTS = ROOT / "test-artifacts"
LEGAL_NAME = "Redes Andinas S.A.S."
INJECTED_NAME = 'Ana <img src="http://127.0.0.1:9/x"> Gómez'
INJECTED_ADDRESS = 'Vereda El Rosal <link rel=attachment href="file:///etc/passwd"> Km 3'


# Helpers ------------------------------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    """All pages' text, every run of whitespace (line breaks, no-break spaces) as one space."""
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def squash(text: str) -> str:
    return "".join(text.split())


async def tenant_ref(make_tenant: Any) -> Any:
    from tenants.registry import tenant_by_slug

    tc = await make_tenant()
    tenant = await tenant_by_slug(tc.slug)
    assert tenant is not None
    return tenant


async def set_up_billing(tenant: Any, tax_label: str = "IVA") -> None:
    from tenants.scope import tenant_scope

    async with tenant_scope(tenant) as scope:
        await scope.connection.execute(
            "INSERT INTO billing_settings (id, singleton, legal_name, legal_address, tax_id,"
            " tax_label, tax_rate, updated_at)"
            " VALUES (gen_random_uuid(), true, $1, $2, $3, $4, 19, now())"
            " ON CONFLICT (singleton) DO UPDATE SET legal_name = $1, legal_address = $2,"
            " tax_id = $3, tax_label = $4",
            LEGAL_NAME,
            "Calle 10 # 5-51\nBogotá D.C.",
            "900.123.456-7",
            tax_label,
        )


async def add_subscriber(
    tenant: Any, language: str | None, name: str = INJECTED_NAME, currency: str = "USD"
) -> tuple[uuid.UUID, str]:
    from app.plans.tables import RatePlan
    from app.subscribers.tables import Subscriber
    from tenants.scope import tenant_scope

    email = f"ana-{secrets.token_hex(4)}@example.com"
    now = dt.datetime.now(dt.UTC)
    async with tenant_scope(tenant):
        plan = RatePlan(
            name=f"Hogar {secrets.token_hex(3)}",
            download_kbps=50_000,
            upload_kbps=10_000,
            monthly_price=Decimal("45"),
            currency=currency,
            created_at=now,
            updated_at=now,
        )
        await plan.save()
        subscriber = Subscriber(
            name=name,
            email=email,
            address=INJECTED_ADDRESS,
            language=language,
            plan=plan.id,
            status="pending_installation",
            created_at=now,
            updated_at=now,
        )
        await subscriber.save()
    return subscriber.id, email


async def add_invoice(
    tenant: Any,
    subscriber_id: uuid.UUID,
    *,
    kind: str = "invoice",
    currency: str = "USD",
    language: str = "en",
    total: str = "1234.50",
    tax: str = "197.11",
    paid: str = "200",
    status: str = "open",
    void_reason: str = "",
    corrects: uuid.UUID | None = None,
    numbered: bool = True,
    month: int = 3,
) -> tuple[uuid.UUID, str]:
    from app.billing.tables import Invoice, InvoiceLine
    from tenants.scope import tenant_scope

    series = "CN" if kind == "credit_note" else "INV"
    number = secrets.randbelow(900_000) + 1
    number_text = f"{series}-2026-{number:06d}" if numbered else ""
    total_d, tax_d = Decimal(total), Decimal(tax)
    invoice = Invoice(
        kind=kind,
        subscriber_id=subscriber_id,
        period_start=dt.date(2026, month, 1),
        period_end=dt.date(2026, month + 1, 1),
        series=series,
        year=2026,
        number=number if numbered else None,
        number_text=number_text,
        issue_date=dt.date(2026, 3, 1),
        due_date=dt.date(2026, 3, 16),
        currency=currency,
        language=language,
        subtotal=total_d - tax_d,
        tax_total=tax_d,
        total=total_d,
        amount_paid=Decimal(paid),
        status=status,
        void_reason=void_reason,
        corrects_id=corrects,
        bill_to=f"{INJECTED_NAME}\n{INJECTED_ADDRESS}\nana@example.com",
        created_at=dt.datetime.now(dt.UTC),
    )
    # Two lines that add up to the totals: a plan and a prorated plan change.
    first = (total_d - tax_d) / 2
    lines = [
        ("plan", "Plan Hogar 50 Mbps <b>bold?</b>", Decimal(1), first),
        ("proration", "Plan Empresa (15 of 31 days)", Decimal("0.483871"), total_d - tax_d - first),
    ]
    async with tenant_scope(tenant):
        await invoice.save()
        for position, (line_kind, description, quantity, amount) in enumerate(lines):
            await InvoiceLine(
                invoice=invoice.id,
                position=position,
                kind=line_kind,
                description=description,
                quantity=quantity,
                unit_price=amount / quantity,
                amount=amount,
                tax_rate=Decimal(19),
                tax_amount=tax_d / 2 if position == 0 else tax_d - tax_d / 2,
            ).save()
    return invoice.id, number_text


async def billed(make_tenant: Any, **kwargs: Any) -> tuple[Any, uuid.UUID, str]:
    """A tenant with legal details, a subscriber and one invoice: (tenant, invoice, number)."""
    tenant = await tenant_ref(make_tenant)
    await set_up_billing(tenant)
    language = kwargs.pop("subscriber_language", "en")
    kwargs.setdefault("language", language)  # issued in the subscriber's language, as billing does
    subscriber_id, _email = await add_subscriber(tenant, language)
    invoice_id, number = await add_invoice(tenant, subscriber_id, **kwargs)
    return tenant, invoice_id, number


# The documents ----------------------------------------------------------------------------------


async def test_invoice_in_english_with_legal_details_lines_totals_and_escaped_text(
    make_tenant: Any,
) -> None:
    from app.billing.pdf import invoice_pdf

    tenant, invoice_id, number = await billed(make_tenant)
    content = await invoice_pdf(tenant, invoice_id)
    text = pdf_text(content)
    upper = text.upper()

    assert "INVOICE" in upper
    assert number in text
    assert LEGAL_NAME in text
    assert "Calle 10 # 5-51" in text
    assert "Tax ID: 900.123.456-7" in text
    for label in (
        "Bill to",
        "Issue date",
        "Due date",
        "Billing period",
        "Description",
        "Quantity",
        "Unit price",
        "Amount",
        "Subtotal",
        "Total",
        "Amount paid",
        "Balance due",
    ):
        assert label.upper() in upper, label
    assert "March 1, 2026" in text
    assert "March 16, 2026" in text  # the due date
    assert "Mar 1, 2026 to Mar 31, 2026" in text  # the period's end is exclusive
    assert "$1,234.50" in text  # total
    assert "$197.11" in text  # tax total
    assert "$1,037.39" in text  # subtotal
    assert "$200.00" in text  # paid
    assert "$1,034.50" in text  # balance
    assert "IVA" in text  # the tenant's tax label
    assert "19%" in text
    assert "0.484" in text  # the prorated quantity
    # User text is text: the markup in names, addresses and descriptions is printed, not run
    # (had it been run, the fetcher would have refused it and the render would have failed).
    assert squash(INJECTED_NAME) in squash(text)
    assert squash(INJECTED_ADDRESS) in squash(text)
    assert "<b>bold?</b>" in text
    assert PdfReader(io.BytesIO(content)).attachments == {}

    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "invoice-en.pdf").write_bytes(content)
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "110",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(ARTIFACTS / "invoice-en.pdf"),
                str(ARTIFACTS / "invoice-en"),
            ],
            check=True,
        )
        assert (ARTIFACTS / "invoice-en.png").stat().st_size > 10_000


async def test_invoice_in_the_subscribers_spanish(make_tenant: Any) -> None:
    from app.billing.pdf import invoice_pdf

    # The tenant says English; the invoice was issued in the subscriber's Spanish.
    tenant, invoice_id, number = await billed(make_tenant, subscriber_language="es")
    text = pdf_text(await invoice_pdf(tenant, invoice_id))
    upper = text.upper()

    assert "FACTURA" in upper
    assert "INVOICE" not in upper
    assert number in text
    for label in (
        "Facturar a",
        "Fecha de emisión",
        "Fecha de vencimiento",
        "Período de facturación",
        "Descripción",
        "Cantidad",
        "Precio unitario",
        "Importe",
        "Subtotal",
        "Monto pagado",
        "Saldo pendiente",
    ):
        assert label.upper() in upper, label
    assert "Identificación fiscal: 900.123.456-7" in text
    assert "16 de marzo de 2026" in text
    assert "1.234,50 US$" in text  # what Babel gives for es
    assert "1.034,50 US$" in text
    assert "19 %" in text
    assert "0,484" in text
    assert "Página 1 de 1" in text


async def test_language_falls_back_to_the_invoice_then_the_tenant(make_tenant: Any) -> None:
    from app.billing.pdf import invoice_pdf

    tenant = await tenant_ref(make_tenant)
    await set_up_billing(tenant)
    no_language, _e = await add_subscriber(tenant, None)
    spanish_invoice, _n = await add_invoice(tenant, no_language, language="es")
    assert "FACTURA" in pdf_text(await invoice_pdf(tenant, spanish_invoice)).upper()

    # No subscriber row at all (bill-to comes from the invoice's own copy).
    unknown, _n = await add_invoice(tenant, uuid.uuid4(), language="xx")
    text = pdf_text(await invoice_pdf(tenant, unknown))
    assert "INVOICE" in text.upper()  # the tenant's language (en)
    assert squash(INJECTED_NAME) in squash(text)


async def test_credit_note_names_the_invoice_it_corrects(make_tenant: Any) -> None:
    from app.billing.pdf import invoice_pdf

    tenant, invoice_id, number = await billed(make_tenant)
    subscriber_id = uuid.uuid4()
    note_id, note_number = await add_invoice(
        tenant,
        subscriber_id,
        kind="credit_note",
        total="119",
        tax="19",
        paid="0",
        corrects=invoice_id,
    )
    text = pdf_text(await invoice_pdf(tenant, note_id))
    upper = text.upper()
    assert "CREDIT NOTE" in upper
    assert note_number in text
    assert "CORRECTS INVOICE" in upper
    assert number in text
    assert "Total credited" in text
    assert "$119.00" in text
    assert "DUE DATE" not in upper
    assert "Balance due" not in text


async def test_void_paid_and_draft_documents_say_so(make_tenant: Any) -> None:
    from app.billing.pdf import invoice_pdf

    tenant, void_id, _number = await billed(
        make_tenant, status="void", void_reason="Billed twice by mistake", paid="0"
    )
    text = pdf_text(await invoice_pdf(tenant, void_id))
    assert "VOID" in text.upper()
    assert "Billed twice by mistake" in text
    assert "$0.00" in text  # nothing is owed on a void invoice
    assert "PAID" not in text.upper().replace("AMOUNT PAID", "")

    paid_id, _n = await add_invoice(tenant, uuid.uuid4(), status="paid", paid="1234.50")
    text = pdf_text(await invoice_pdf(tenant, paid_id))
    assert "PAID" in text.upper().replace("AMOUNT PAID", "")
    assert "VOID" not in text.upper()

    draft_id, _n = await add_invoice(tenant, uuid.uuid4(), numbered=False)
    assert "DRAFT" in pdf_text(await invoice_pdf(tenant, draft_id)).upper()


@pytest.mark.parametrize(
    ("currency", "language", "total", "tax", "paid", "expected"),
    [
        ("CLP", "en", "1234567", "197111", "0", ["CLP1,234,567", "CLP197,111", "CLP0"]),
        ("CLP", "es", "1234567", "197111", "0", ["1.234.567 CLP", "197.111 CLP"]),
        ("KWD", "en", "1234.5", "197.111", "200", ["KWD1,234.500", "KWD197.111", "KWD1,034.500"]),
        ("KWD", "es", "1234.5", "197.111", "200", ["1.234,500 KWD", "1.034,500 KWD"]),
    ],
)
async def test_currencies_with_zero_and_three_decimals(
    make_tenant: Any,
    currency: str,
    language: str,
    total: str,
    tax: str,
    paid: str,
    expected: list[str],
) -> None:
    from app.billing.pdf import invoice_pdf

    tenant, invoice_id, _n = await billed(
        make_tenant,
        subscriber_language=language,
        currency=currency,
        total=total,
        tax=tax,
        paid=paid,
    )
    text = pdf_text(await invoice_pdf(tenant, invoice_id))
    for amount in expected:
        assert amount in text, (amount, text)


async def test_another_tenants_invoice_is_not_found(make_tenant: Any) -> None:
    from app.billing.pdf import invoice_pdf
    from app.core.problems import NotFound

    tenant_a, invoice_a, _n = await billed(make_tenant)
    tenant_b = await tenant_ref(make_tenant)
    with pytest.raises(NotFound):
        await invoice_pdf(tenant_b, invoice_a)
    with pytest.raises(NotFound):
        await invoice_pdf(tenant_a, uuid.uuid4())


async def test_logo_is_embedded_as_a_data_url_and_must_be_a_png(make_tenant: Any) -> None:
    from app.billing.pdf import invoice_pdf

    tenant, invoice_id, _n = await billed(make_tenant)
    plain = await invoice_pdf(tenant, invoice_id)
    with_logo = await invoice_pdf(tenant, invoice_id, logo_png=_tiny_png())
    reader = PdfReader(io.BytesIO(with_logo))
    assert len(reader.pages[0].images) == 1
    assert len(PdfReader(io.BytesIO(plain)).pages[0].images) == 0
    with pytest.raises(ValueError):
        await invoice_pdf(tenant, invoice_id, logo_png=b"<svg onload=alert(1)>")


def _tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    pixels = b"".join(b"\x00" + b"\x1e\x3a\x5f" * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


# The fetcher and the render processes -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "file://localhost/etc/passwd",
        "http://127.0.0.1:9/x",
        "https://example.com/logo.png",
        "ftp://example.com/x",
        "gopher://127.0.0.1:70/",
    ],
)
def test_fetcher_refuses_everything_but_data_urls_and_our_assets(url: str) -> None:
    from app.billing.render_worker import AssetsOnlyFetcher, FetchRefused

    with pytest.raises((FetchRefused, ValueError)):
        AssetsOnlyFetcher().fetch(url)


def test_fetcher_refuses_paths_that_step_out_of_the_assets(tmp_path: Any) -> None:
    from app.billing.render_worker import ASSETS_DIR, ASSETS_URL, AssetsOnlyFetcher, FetchRefused

    fetcher = AssetsOnlyFetcher()
    for url in (
        ASSETS_URL + "../pdf.py",
        ASSETS_URL + "%2e%2e/pdf.py",
        ASSETS_URL + "missing.css",
        ASSETS_URL,
    ):
        with pytest.raises(FetchRefused):
            fetcher.fetch(url)
    link = ASSETS_DIR / f"test-link-{secrets.token_hex(4)}.css"
    link.symlink_to("/etc/passwd")
    try:
        with pytest.raises(FetchRefused):
            fetcher.fetch(link.as_uri())
    finally:
        link.unlink()


def test_fetcher_serves_data_urls_and_our_stylesheet() -> None:
    from app.billing.render_worker import ASSETS_URL, AssetsOnlyFetcher

    fetcher = AssetsOnlyFetcher()
    assert fetcher.fetch("data:text/plain;base64,aGVsbG8=").read() == b"hello"
    css = fetcher.fetch(ASSETS_URL + "invoice.css")
    assert css.content_type == "text/css"
    assert b"@page" in css.read()


@pytest.mark.parametrize(
    "hostile",
    [
        '<link rel=attachment href="file:///etc/passwd"><p>x</p>',
        '<p>x</p><img src="http://127.0.0.1:9/x">',
        '<style>@import url("file:///etc/passwd");</style><p>x</p>',
    ],
)
async def test_a_document_that_asks_for_a_forbidden_url_is_not_rendered(
    app: Any, hostile: str
) -> None:
    from app.billing.pdf import render_pdf
    from app.billing.render_worker import RenderRefused

    with pytest.raises(RenderRefused):
        await render_pdf(hostile)


async def test_render_processes_are_replaced_after_their_quota(app: Any) -> None:
    from app.billing.pdf import Renderer
    from app.billing.render_worker import child_pid

    renderer = Renderer(processes=1, renders_per_child=2)
    try:
        assert (await renderer.render("<p>one</p>")).startswith(b"%PDF-")
        pids = [await renderer.run(child_pid) for _ in range(5)]
    finally:
        renderer.close()
    # 6 tasks, 2 per child: three children, none of them this process.
    assert len(set(pids)) == 3
    assert os.getpid() not in pids


def _render_and_return() -> None:
    from app.billing.pdf import render_pdf

    assert asyncio.run(render_pdf("<p>exit</p>")).startswith(b"%PDF-")


def test_a_process_that_rendered_still_exits() -> None:
    """Dramatiq and uvicorn workers are multiprocessing children, which join their own children
    at exit before executors shut down: the render processes must be gone by then, or the
    worker never exits (and its render processes live on as orphans)."""
    child = multiprocessing.get_context("spawn").Process(target=_render_and_return)
    child.start()
    child.join(timeout=120)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung
    assert child.exitcode == 0


def _render_report_and_wait(pids: Any) -> None:
    from app.billing.pdf import Renderer
    from app.billing.render_worker import child_pid

    async def go() -> None:
        renderer = Renderer()
        await renderer.render("<p>x</p>")
        pids.put(await renderer.run(child_pid))
        await asyncio.sleep(600)

    asyncio.run(go())


def test_render_processes_exit_when_their_owner_is_killed() -> None:
    import psutil

    def running(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    context = multiprocessing.get_context("spawn")
    pids = context.Queue()
    owner = context.Process(target=_render_report_and_wait, args=(pids,))
    owner.start()
    try:
        render_pid = pids.get(timeout=120)
        forkserver_pid = psutil.Process(render_pid).ppid()
    finally:
        owner.kill()
        owner.join()
    deadline = time.monotonic() + 30
    while (running(render_pid) or running(forkserver_pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(render_pid)
    assert not running(forkserver_pid)


# Email ------------------------------------------------------------------------------------------


async def test_finalised_invoice_is_emailed_once_with_its_pdf_in_spanish(
    make_tenant: Any, worker: Any, inbox: Any
) -> None:
    from app.billing.tasks import email_invoice, sent_key
    from app.core.audit import AuditEvent
    from app.core.redis import get_redis
    from tenants.scope import tenant_scope

    tenant = await tenant_ref(make_tenant)
    await set_up_billing(tenant)
    subscriber_id, address = await add_subscriber(tenant, "es", name="Ana Gómez")
    invoice_id, number = await add_invoice(tenant, subscriber_id, language="es")

    email_invoice.send(str(tenant.id), str(invoice_id))
    # A fresh worker boots, starts its render process and renders: slow on a busy machine.
    message = await inbox.wait_for(address, timeout=120)
    assert message["Subject"] == f"Factura {number} de {LEGAL_NAME}"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = " ".join(body.get_content().split())
    assert "Ana Gómez" in text
    assert "1.234,50 US$" in text
    assert "16 de marzo de 2026" in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{number}.pdf"
    pdf = pdf_text(attachment.get_content())
    assert "FACTURA" in pdf.upper()
    assert number in pdf

    assert await get_redis().exists(sent_key(tenant, invoice_id))

    async def audited() -> bool:
        async with tenant_scope(tenant):
            rows = await AuditEvent.select().where(
                AuditEvent.action == "invoice.emailed", AuditEvent.object_id == str(invoice_id)
            )
        return len(rows) == 1 and rows[0]["data"] is not None

    await eventually(audited)

    # A redelivered message finds the send recorded and mails nothing.
    await email_invoice.fn.__wrapped__(str(tenant.id), str(invoice_id))
    assert len(inbox.to(address)) == 1


async def test_void_or_unnumbered_invoices_are_not_emailed(make_tenant: Any, inbox: Any) -> None:
    from app.billing.tasks import email_invoice, sent_key
    from app.core.redis import get_redis

    tenant = await tenant_ref(make_tenant)
    await set_up_billing(tenant)
    subscriber_id, address = await add_subscriber(tenant, "en")
    void_id, _n = await add_invoice(tenant, subscriber_id, status="void", void_reason="x")
    draft_id, _n = await add_invoice(tenant, subscriber_id, numbered=False, month=4)
    for invoice_id in (void_id, draft_id, uuid.uuid4(), "not-an-id"):
        await email_invoice.fn.__wrapped__(str(tenant.id), str(invoice_id))
        assert not await get_redis().exists(sent_key(tenant, invoice_id))
    assert inbox.to(address) == []


async def test_a_failed_send_is_not_recorded_so_the_retry_sends(
    make_tenant: Any, inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.billing import tasks
    from app.core.redis import get_redis

    tenant = await tenant_ref(make_tenant)
    await set_up_billing(tenant)
    subscriber_id, address = await add_subscriber(tenant, "en")
    invoice_id, number = await add_invoice(tenant, subscriber_id)
    real_send = tasks.mail.send

    async def refused(_message: Any) -> None:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(tasks.mail, "send", refused)
    with pytest.raises(ConnectionRefusedError):
        await tasks.email_invoice.fn.__wrapped__(str(tenant.id), str(invoice_id))
    key = tasks.sent_key(tenant, invoice_id)
    assert not await get_redis().exists(key)
    assert not await get_redis().exists(f"{key}:lock")  # released for the retry
    assert inbox.to(address) == []

    monkeypatch.setattr(tasks.mail, "send", real_send)
    await tasks.email_invoice.fn.__wrapped__(str(tenant.id), str(invoice_id))
    [message] = inbox.to(address)
    assert message["Subject"] == f"Invoice {number} from {LEGAL_NAME}"
    assert await get_redis().exists(key)
