"""Invoice and credit-note PDFs, in the document's language.

A document is a snapshot (`app.billing.snapshots`): everything it shows comes from its own rows
(lines, totals, currency, language, bill-to) and the seller snapshot it was issued with, never
from the current settings or the subscriber's current details. Only the ledger's facts about it
move: its status and what was paid or credited since.

Reading happens inside the tenant scope; rendering happens after it, outside any transaction,
in a recycled child process (WeasyPrint's memory grows in long-lived processes): each child
renders `RENDERS_PER_CHILD` documents and is then replaced. The HTML is built here, with Jinja's
autoescape on, so names, addresses and descriptions are always text, never markup; the child only
turns it into a PDF, with a URL fetcher that reaches `data:` URLs and our assets alone.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import multiprocessing
import multiprocessing.util
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from markupsafe import Markup

from app.billing import money, snapshots
from app.billing.tables import Invoice, InvoiceLine
from app.core.i18n import _, use_language
from app.core.problems import NotFound
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
RENDERS_PER_CHILD = 50
RENDER_PROCESSES = 1
CREDIT_NOTE = "credit_note"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

T = TypeVar("T")

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice PDF or email says, read in one tenant transaction."""

    invoice: dict[str, Any]
    lines: list[dict[str, Any]]
    issuer: snapshots.Issuer
    subscriber: dict[str, Any] | None
    """The subscriber now: whom the email goes to, never what the document says."""
    corrects_number: str | None
    language: str
    credits: list[tuple[str, Decimal]] = field(default_factory=list)
    """Credit notes applied to an invoice: (number, amount), shown apart from payments."""

    @property
    def is_credit_note(self) -> bool:
        return bool(self.invoice["kind"] == CREDIT_NOTE)

    @property
    def filename(self) -> str:
        name = self.invoice["number_text"] or f"draft-{self.invoice['id']}"
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in name) + ".pdf"


async def load_document(tenant: TenantRef, invoice_id: uuid.UUID) -> InvoiceDocument:
    """Read an invoice and what it needs; call inside the tenant scope. NotFound when missing."""
    conn = current_scope().connection
    invoice = await Invoice.select().where(Invoice.id == invoice_id).first()
    if invoice is None:
        raise NotFound()
    lines = (
        await InvoiceLine.select()
        .where(InvoiceLine.invoice == invoice_id)
        .order_by(InvoiceLine.position)
    )
    issuer = await snapshots.issuer_for(conn, tenant, invoice)
    row = await conn.fetchrow(
        "SELECT name, email, address, language FROM subscriber WHERE id = $1",
        invoice["subscriber_id"],
    )
    subscriber = dict(row) if row else None
    corrects_number = None
    if invoice["corrects_id"] is not None:
        original = (
            await Invoice.select(Invoice.number_text)
            .where(Invoice.id == invoice["corrects_id"])
            .first()
        )
        corrects_number = original["number_text"] if original else None
    credits: list[tuple[str, Decimal]] = []
    if invoice["kind"] != CREDIT_NOTE:
        # Credit notes correcting this invoice, and those of cancellations applied to it (as a
        # `credit_note` payment whose reference is the note's number).
        credits = [
            (r["number"], r["amount"])
            for r in await conn.fetch(
                "SELECT number_text AS number, total AS amount, issue_date AS day FROM invoice"
                " WHERE corrects_id = $1 AND kind = 'credit_note' AND status <> 'void'"
                " UNION ALL SELECT p.reference, a.amount, p.paid_on FROM payment_allocation a"
                " JOIN payment p ON p.id = a.payment WHERE a.invoice = $1"
                " AND p.method = 'credit_note' AND p.status = 'posted' ORDER BY day, number",
                invoice_id,
            )
        ]
    language = snapshots.document_language(invoice["language"])
    return InvoiceDocument(
        invoice, list(lines), issuer, subscriber, corrects_number, language, credits
    )


async def invoice_pdf(
    tenant: TenantRef, invoice_id: uuid.UUID, *, logo_png: bytes | None = None
) -> bytes:
    """The PDF of an invoice or credit note of this tenant (NotFound for anyone else's id)."""
    async with tenant_scope(tenant):
        document = await load_document(tenant, invoice_id)
    return await render_pdf(render_html(document, logo_png=logo_png))


# HTML ---------------------------------------------------------------------------------------------


def _labels(tax_label: str) -> dict[str, str]:
    return {
        "invoice": _("Invoice"),
        "credit_note": _("Credit note"),
        "draft": _("Draft"),
        "void": _("Void"),
        "paid": _("Paid"),
        "issue_date": _("Issue date"),
        "due_date": _("Due date"),
        "period": _("Billing period"),
        "corrects": _("Corrects invoice"),
        "bill_to": _("Bill to"),
        "tax_id": _("Tax ID"),
        "description": _("Description"),
        "quantity": _("Quantity"),
        "unit_price": _("Unit price"),
        "amount": _("Amount"),
        "subtotal": _("Subtotal"),
        "total": _("Total"),
        "amount_paid": _("Amount paid"),
        "credited": _("Credit note {number}"),
        "balance": _("Balance due"),
        "total_credited": _("Total credited"),
        "thanks": _("Thank you for your business."),
        # The default label is ours and gets translated; a label the tenant chose ("IVA",
        # "ITBMS") is printed as they wrote it.
        "tax": _("Tax") if tax_label in ("", "Tax") else tax_label,
    }


def _css_string(text: str) -> str:
    """A CSS string literal; `<` escaped too, so the text cannot close the <style> element."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ")
    return '"' + escaped.replace("<", "\\3C ") + '"'


def _page_counter() -> Markup:
    """`content:` for the page footer: the translated "Page {page} of {pages}" with counters."""
    text = _("Page {page} of {pages}")
    parts = []
    for chunk in text.replace("{pages}", "\0pages\0").replace("{page}", "\0page\0").split("\0"):
        if chunk in ("page", "pages"):
            parts.append(f"counter({chunk})")
        elif chunk:
            parts.append(_css_string(chunk))
    return Markup(" ".join(parts))  # noqa: S704  (built from escaped CSS strings only)


def _logo_url(logo_png: bytes | None) -> str | None:
    if logo_png is None:
        return None
    if not logo_png.startswith(PNG_SIGNATURE):
        raise ValueError("the logo is not a PNG image")
    return "data:image/png;base64," + base64.b64encode(logo_png).decode("ascii")


def format_money(value: Decimal, currency: str, language: str) -> str:
    """Rounded half-up to the currency's minor unit first: Babel would round half-even."""
    rounded = money.round_money(Decimal(value), currency)
    return str(format_currency(rounded, currency, locale=language))


def format_day(value: dt.date | None, language: str) -> str:
    return str(format_date(value, "long", locale=language)) if value else ""


def render_html(document: InvoiceDocument, *, logo_png: bytes | None = None) -> str:
    """The document as HTML in its language; every value a formatted, escaped string."""
    inv, issuer, language = document.invoice, document.issuer, document.language
    currency = inv["currency"]

    def amount(value: Decimal) -> str:
        return format_money(value, currency, language)

    def day(value: dt.date | None) -> str:
        return format_day(value, language)

    with use_language(language):
        labels = _labels(issuer.tax_label)
        period = None
        if inv["period_start"] and inv["period_end"]:
            # period_end is exclusive (the next period's first day), like the lines' spans.
            last = inv["period_end"] - dt.timedelta(days=1)
            period = _("{start} to {end}").format(
                start=format_date(inv["period_start"], "medium", locale=language),
                end=format_date(last, "medium", locale=language),
            )
        credited = sum((value for _number, value in document.credits), Decimal(0))
        balance = Decimal(0) if inv["status"] == "void" else inv["total"] - inv["amount_paid"]
        title = labels["credit_note"] if document.is_credit_note else labels["invoice"]
        number = inv["number_text"] or labels["draft"]
        context = {
            "lang": language,
            "title": title,
            "number": number,
            "labels": labels,
            "page_counter": _page_counter(),
            "logo_url": _logo_url(logo_png),
            "seller": {"name": issuer.name, "address": issuer.address, "tax_id": issuer.tax_id},
            "issue_date": day(inv["issue_date"]),
            "due_date": day(inv["due_date"]),
            "period": period,
            "corrects": document.corrects_number,
            "bill_to": inv["bill_to"].splitlines(),
            "status": inv["status"],
            "void_reason": inv["void_reason"],
            "lines": [
                {
                    "description": line["description"],
                    "quantity": format_decimal(
                        Decimal(line["quantity"]).normalize(), locale=language
                    ),
                    "unit_price": amount(line["unit_price"]),
                    "amount": amount(line["amount"]),
                    "tax_rate": format_percent(
                        Decimal(line["tax_rate"]) / 100,
                        locale=language,
                        decimal_quantization=False,
                    ),
                    "tax_amount": amount(line["tax_amount"]),
                }
                for line in document.lines
            ],
            "subtotal": amount(inv["subtotal"]),
            "tax_total": amount(inv["tax_total"]),
            "total": amount(inv["total"]),
            "credits": [
                {"label": labels["credited"].format(number=n), "amount": amount(-value)}
                for n, value in document.credits
            ],
            # amount_paid counts credits too (they settle the invoice); the document tells them
            # apart: a credit note is not a payment.
            "amount_paid": amount(inv["amount_paid"] - credited),
            "balance": amount(balance),
        }
        template = "credit_note.html" if document.is_credit_note else "invoice.html"
        return _templates.get_template(template).render(context)


# Rendering in recycled child processes ----------------------------------------------------------


class Renderer:
    """A small pool of render processes, each replaced after `renders_per_child` documents.

    The children fork from a forkserver that has WeasyPrint imported already, so a new child
    costs a fork, not an import; nothing of the parent (its event loop, its connections) is
    inherited, unlike with a plain fork.
    """

    def __init__(
        self, processes: int = RENDER_PROCESSES, renders_per_child: int = RENDERS_PER_CHILD
    ) -> None:
        self.processes = processes
        self.renders_per_child = renders_per_child
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._finalizer_registered = False

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["app.billing.render_worker"])
                # Imported here, on first use: a process that never renders never loads
                # WeasyPrint.
                from app.billing import render_worker  # noqa: PLC0415

                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=context,
                    max_tasks_per_child=self.renders_per_child,
                    initializer=render_worker.watch_owner,
                    initargs=(os.getpid(),),
                )
                if not self._finalizer_registered:
                    # A process that is itself a multiprocessing child (a Dramatiq worker, a
                    # uvicorn worker) joins its own children at exit *before* executors are shut
                    # down, so the render processes would wait for work forever and the process
                    # would never exit. Shut the pool down first: finalizers run by priority,
                    # before that join, and this one must also beat the pool's queues' own
                    # (priority 10), which would stop their feeder threads.
                    multiprocessing.util.Finalize(None, self.close, exitpriority=100)
                    self._finalizer_registered = True
            return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a render process; a pool whose child died is replaced once."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._pool()
            try:
                return await loop.run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                # A child was killed (out of memory, a signal): start a fresh pool.
                self._discard(pool)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def render(self, html: str) -> bytes:
        from app.billing import render_worker  # noqa: PLC0415  (see above)

        return await self.run(render_worker.render, html)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


RENDERER = Renderer()


async def render_pdf(html: str) -> bytes:
    return await RENDERER.render(html)
