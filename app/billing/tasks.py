"""Billing's jobs: the daily run per tenant, runs queued through the API, the invoice mail
(fan-out, the hourly outbox sweep, each invoice with its PDF in the subscriber's language) and
the managers' alert when suspensions halt.

Delivery is at least once, so `email_invoice` is safe to run twice: a Redis key (tenant and
invoice in its name) records the send, set only after the SMTP server accepted the message, and a
short lock keeps two deliveries of the same message from mailing at the same moment (a lock left
by a killed worker is taken over as soon as the queue declares that worker dead). The PDF is
rendered after the job's transaction has committed, never while it holds a connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
import zoneinfo

from app.billing import pdf, runs, settings
from app.core import audit, jobs, mail
from app.core.audit import SYSTEM
from app.core.config import get_settings
from app.core.i18n import _, use_language
from app.core.mailtext import unlinkable
from app.core.problems import NotFound, Problem
from app.core.redis import get_redis, key
from app.identity.access import active_managers
from tenants.confirmation import may_mail
from tenants.jobs import Scope, periodic, tenant_actor
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

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


def compose(document: pdf.InvoiceDocument) -> tuple[str, str]:
    """Subject and text of the email, in the document's language."""
    inv = document.invoice
    currency, language = inv["currency"], document.language
    seller = unlinkable(document.issuer.name)  # as on the document, not as settings say now
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
    if not await may_mail(tenant, address):
        # Held: the hourly sweep mails the last week's invoices once the owner confirms.
        log.info("invoice mail held until the owner confirms", extra={"invoice_id": invoice_id})
        return

    async def deliver() -> None:
        lock, token = f"{done}:lock", f"{_holder()} {secrets.token_hex(16)}"
        if not await _acquire(lock, token):
            raise EmailInProgress(invoice_id)
        try:
            if await redis.exists(done):
                return
            content = await pdf.render_pdf(pdf.render_html(document))
            subject, text = compose(document)
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
    return str(jobs.broker.broker_id)


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


@tenant_actor(max_retries=3, time_limit=3_600_000, throws=(Problem,))
async def run_billing(scope: Scope, run_id: str) -> None:
    """Execute a queued run (API or scheduler). Each chunk commits on its own, and the engine
    is idempotent, so a retried or redelivered run only finishes what is left."""
    tenant = scope.tenant

    async def go() -> None:
        await runs.execute(tenant, uuid.UUID(run_id), SYSTEM)

    scope.after_commit(go)


@periodic("daily-billing-check", dt.timedelta(hours=1))
@tenant_actor(max_retries=3)
async def daily_billing(scope: Scope) -> None:
    """Enqueued hourly for every tenant: runs today's billing once the tenant's local clock
    has passed its run hour, unless today's scheduled run already exists (so a missed hour is
    caught up, and a second scheduler changes nothing)."""
    tenant = scope.tenant
    zone = zoneinfo.ZoneInfo(tenant.timezone)
    local_now = dt.datetime.now(zone)
    conf = await settings.load()
    if local_now.hour < conf.run_hour:
        return
    today = local_now.date()
    claimed = await scope.connection.fetchrow(
        "SELECT id, status FROM billing_run WHERE as_of = $1 AND started_by IS NULL", today
    )
    if claimed is not None and claimed["status"] in ("done", "halted"):
        return

    async def go() -> None:
        # Today's run, unless an earlier attempt already recorded it: a worker killed mid-run
        # left it 'running', and it is finished now rather than tomorrow.
        run_id = (
            claimed["id"] if claimed is not None else (await runs.create(tenant, today, SYSTEM))[0]
        )
        await runs.execute(tenant, run_id, SYSTEM)

    scope.after_commit(go)


@tenant_actor(max_retries=5)
async def email_invoices(scope: Scope, invoice_ids: list[str]) -> None:
    """Fan out one mail job per new invoice (each renders its own PDF)."""
    tenant_id = str(scope.tenant.id)

    async def fan_out() -> None:
        await jobs.enqueue_many("billing.email_invoice", [(tenant_id, i) for i in invoice_ids])

    scope.after_commit(fan_out)


@tenant_actor(max_retries=5)
async def alert_suspension_halt(scope: Scope, candidates: int, active: int) -> None:
    """Tell every manager that the run stopped short of a mass suspension."""
    rows = await active_managers()
    portal = get_settings().portal_url(scope.tenant.slug)
    messages = []
    for r in rows:
        with use_language(r["language"] or scope.tenant.language):
            subject = _("Automatic suspensions stopped for {company}").format(
                company=scope.tenant.name
            )
            text = _(
                "Today's billing run found {count} of {active} active subscribers overdue, more "
                "than the share allowed for automatic suspension, so it suspended no one.\n\n"
                "Please check that recent payments were posted, then run billing again from "
                "{portal}.\n\n— Wisp Cloud"
            ).format(count=candidates, active=active, portal=portal)
        messages.append(mail.build(r["email"], subject, text))

    async def deliver() -> None:
        for message in messages:
            await mail.send(message)

    scope.after_commit(deliver)


@periodic("sweep-unsent-invoices", dt.timedelta(hours=1))
@tenant_actor(max_retries=3)
async def sweep_unsent_invoices(scope: Scope) -> None:
    """The outbox sweep: announcing new invoices happens after the run commits, so a Redis
    outage at that moment would leave them unsent. Hourly, every numbered invoice of the last
    week that has no `invoice.emailed` audit record yet is handed to the mailer again (which
    sends each at most once)."""
    rows = await scope.connection.fetch(
        "SELECT i.id FROM invoice i JOIN subscriber s ON s.id = i.subscriber_id"
        " WHERE i.number IS NOT NULL AND i.status <> 'void' AND s.email <> ''"
        " AND i.created_at BETWEEN now() - interval '7 days' AND now() - interval '15 minutes'"
        " AND NOT EXISTS (SELECT 1 FROM audit_event a WHERE a.action = 'invoice.emailed'"
        "   AND a.object_id = i.id::text)"
        " ORDER BY i.created_at LIMIT 5000"
    )
    if not rows:
        return
    tenant_id = str(scope.tenant.id)
    ids = [str(r["id"]) for r in rows]
    chunks = [(tenant_id, ids[start : start + 500]) for start in range(0, len(ids), 500)]

    async def fan_out() -> None:
        await jobs.enqueue_many("billing.email_invoices", chunks)

    scope.after_commit(fan_out)
