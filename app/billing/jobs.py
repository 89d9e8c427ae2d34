"""Billing's background jobs: the daily run per tenant, invoice mail fan-out, alerts."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

from app import mail
from app.audit import SYSTEM
from app.billing import runs, settings
from app.config import get_settings
from app.i18n import _, use_language
from app.problems import Problem
from workers.actors import Scope, tenant_actor


@tenant_actor(max_retries=3, time_limit=3_600_000, throws=(Problem,))
async def run_billing(scope: Scope, run_id: str) -> None:
    """Execute a queued run (API or scheduler). Each chunk commits on its own, and the engine
    is idempotent, so a retried or redelivered run only finishes what is left."""
    tenant = scope.tenant

    async def go() -> None:
        await runs.execute(tenant, uuid.UUID(run_id), SYSTEM)

    scope.after_commit(go)


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
    from app.billing.tasks import email_invoice

    tenant_id = str(scope.tenant.id)

    def fan_out() -> None:
        for invoice_id in invoice_ids:
            email_invoice.send(tenant_id, invoice_id)

    scope.after_commit(fan_out)


@tenant_actor(max_retries=5)
async def alert_suspension_halt(scope: Scope, candidates: int, active: int) -> None:
    """Tell every manager that the run stopped short of a mass suspension."""
    rows = await scope.connection.fetch(
        "SELECT email, language FROM staff_user WHERE role = 'manager' AND is_active"
    )
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

    def enqueue() -> None:
        for start in range(0, len(ids), 500):
            email_invoices.send(tenant_id, ids[start : start + 500])

    scope.after_commit(enqueue)
