"""Emailing finalised invoices and credit notes with their PDF, in the subscriber's language.

Delivery is at least once, so `email_invoice` is safe to run twice: a Redis key (tenant and
invoice in its name) records the send, set only after the SMTP server accepted the message, and a
short lock keeps two deliveries of the same message from mailing at the same moment (a lock left
by a killed worker is taken over as soon as the queue declares that worker dead). The PDF is
rendered after the job's transaction has committed, never while it holds a connection.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid

from app import audit, mail
from app.billing import pdf
from app.config import get_settings
from app.i18n import _, use_language
from app.problems import NotFound
from app.redis import get_redis, key
from tenants.registry import TenantRef
from tenants.scope import tenant_scope
from workers.actors import Scope, tenant_actor

log = logging.getLogger(__name__)

SENT_TTL = 90 * 24 * 3600
"""Far longer than any redelivery of a message can be late."""
LOCK_TTL = 600
"""Longer than a render plus the SMTP timeout."""

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_TAKE_OVER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then"
    " return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end"
)


class EmailInProgress(Exception):
    """Another delivery of the same message is sending it now; retry later to see how it ended."""


def sent_key(tenant: TenantRef, invoice_id: object) -> str:
    return key(tenant.id, "billing", "invoice-emailed", invoice_id)


def compose(document: pdf.InvoiceDocument, tenant: TenantRef) -> tuple[str, str]:
    """Subject and text of the email, in the document's language."""
    inv = document.invoice
    currency, language = inv["currency"], document.language
    seller = document.settings.legal_name or tenant.name
    name = (document.subscriber or {}).get("name") or ""
    with use_language(language):
        total = pdf.format_money(inv["total"], currency, language)
        if document.is_credit_note:
            subject = _("Credit note {number} from {company}")
            text = _(
                "Hello {name},\n\n"
                "Attached is credit note {number} for {total}.\n\n"
                "Kind regards,\n{company}"
            )
            due = ""
        else:
            subject = _("Invoice {number} from {company}")
            text = _(
                "Hello {name},\n\n"
                "Attached is invoice {number} for {total}, due on {due_date}.\n\n"
                "Kind regards,\n{company}"
            )
            due = pdf.format_day(inv["due_date"], language)
    values = {"number": inv["number_text"], "company": seller, "name": name, "total": total}
    # A header must be one line, whatever the tenant typed into its legal name.
    return " ".join(subject.format(**values).split()), text.format(due_date=due, **values)


@tenant_actor(max_retries=10)
async def email_invoice(scope: Scope, invoice_id: str) -> None:
    tenant = scope.tenant
    try:
        parsed = uuid.UUID(invoice_id)
    except ValueError:
        log.warning("not an invoice id", extra={"invoice_id": invoice_id[:64]})
        return
    invoice_id = str(parsed)  # one spelling, one Redis key
    done = sent_key(tenant, invoice_id)
    redis = get_redis()
    if await redis.exists(done):
        return
    try:
        document = await pdf.load_document(tenant, parsed)
    except NotFound:
        log.warning("no such invoice to email", extra={"invoice_id": invoice_id})
        return
    inv = document.invoice
    if inv["status"] == "void" or inv["number"] is None:
        return  # a void or unnumbered document is never sent
    address = (document.subscriber or {}).get("email")
    if not address:
        log.warning("invoice has no subscriber email to send to", extra={"invoice_id": invoice_id})
        return

    async def deliver() -> None:
        lock, token = f"{done}:lock", f"{_holder()} {secrets.token_hex(16)}"
        if not await _acquire(lock, token):
            raise EmailInProgress(invoice_id)
        try:
            if await redis.exists(done):
                return
            content = await pdf.render_pdf(pdf.render_html(document, tenant))
            subject, text = compose(document, tenant)
            message = mail.build(
                address,
                subject,
                text,
                attachments=[(document.filename, "application/pdf", content)],
            )
            await mail.send(message)
            await redis.set(done, "1", ex=SENT_TTL)
        finally:
            await redis.eval(_RELEASE, 1, lock, token)  # type: ignore[misc]
        await _record_sent(tenant, invoice_id, address)

    scope.after_commit(deliver)


def _holder() -> str:
    """This process's identity on the queue (its heartbeat's name there)."""
    from workers.broker import broker

    return str(broker.broker_id)


async def _holder_alive(holder: str) -> bool:
    """Whether the queue still hears the worker process `holder` (the very test that makes
    it hand that worker's jobs to others)."""
    settings = get_settings()
    beat = await get_redis().zscore(f"{settings.queue_namespace}:__heartbeats__", holder)
    return beat is not None and time.time() * 1000 - beat < settings.queue_heartbeat_timeout_ms


async def _acquire(lock: str, token: str) -> bool:
    """The send lock. One held by a worker that died (killed mid-send) is taken over at once
    instead of blocking the mail for LOCK_TTL: its job came back to the queue only because
    that worker stopped beating."""
    redis = get_redis()
    if await redis.set(lock, token, nx=True, ex=LOCK_TTL):
        return True
    held = await redis.get(lock)
    if held is None:
        return bool(await redis.set(lock, token, nx=True, ex=LOCK_TTL))
    if await _holder_alive(str(held).split(" ", 1)[0]):
        return False
    log.warning("taking over the send lock of a dead worker", extra={"lock": lock})
    return bool(await redis.eval(_TAKE_OVER, 1, lock, held, token, LOCK_TTL))  # type: ignore[misc]


async def _record_sent(tenant: TenantRef, invoice_id: str, address: str) -> None:
    """The audit trail says when and to whom; a failure here must not send the mail again."""
    try:
        async with tenant_scope(tenant):
            await audit.record(audit.SYSTEM, "invoice.emailed", "invoice", invoice_id, to=address)
    except Exception:
        log.exception("could not audit an emailed invoice", extra={"invoice_id": invoice_id})
