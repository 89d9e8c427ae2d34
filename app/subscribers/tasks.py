"""Background work for subscribers: portal invitations and plan changes that come due."""

from __future__ import annotations

import datetime as dt

from app.core import audit, mail
from app.core.audit import SYSTEM
from app.core.config import get_settings
from app.core.i18n import _, use_language
from app.core.mailtext import unlinkable
from app.core.timeutil import now
from app.identity.tokens import new_token
from app.subscribers import status as st
from app.subscribers.access import access_subscriber
from app.subscribers.plan_changes import apply_due
from app.subscribers.tables import SubscriberAccount
from tenants.confirmation import may_mail
from tenants.jobs import Scope, periodic, tenant_actor

INVITATION_LIFETIME = dt.timedelta(hours=72)


@tenant_actor(max_retries=10)
async def send_portal_invitation(scope: Scope, subscriber_id: str) -> None:
    """A fresh single-use link (72 h) to set a portal password. The token is made here, in the
    job, so it never travels through the queue; running twice mails a newer link that
    replaces the first."""
    subscriber = await access_subscriber(subscriber_id)
    account = (
        await SubscriberAccount.select()
        .where(SubscriberAccount.subscriber == subscriber["id"])
        .lock_rows()
        .first()
    )
    if account is None or account["password_hash"] is not None:
        return
    if subscriber["status"] == st.CANCELLED:
        return
    if not await may_mail(scope.tenant, subscriber["email"]):
        # Held until the owner's address is confirmed; then "Email the portal link again".
        return
    raw, digest = new_token()
    await SubscriberAccount.update(
        {
            SubscriberAccount.invitation_hash: digest,
            SubscriberAccount.invitation_expires_at: now() + INVITATION_LIFETIME,
            SubscriberAccount.invited_at: now(),
        }
    ).where(SubscriberAccount.id == account["id"])
    await audit.record(SYSTEM, "portal.invitation_sent", "subscriber", subscriber["id"])
    tenant = scope.tenant
    link = f"{get_settings().portal_url(tenant.slug)}/portal/invite/{raw}"
    with use_language(subscriber["language"] or tenant.language):
        company = unlinkable(tenant.name)
        subject = _("Your {company} account is ready").format(company=company)
        text = _(
            "Hello {name},\n\n"
            "Welcome to {company}. Set a password for your customer portal, where you can see "
            "your account and invoices:\n\n"
            "    {link}\n\n"
            "The link works once, for 72 hours.\n\n"
            "— {company}"
        ).format(name=subscriber["name"], company=company, link=link)
    message = mail.build(subscriber["email"], subject, text)

    async def deliver() -> None:
        await mail.send(message)

    scope.after_commit(deliver)


# Hourly, not daily: each tenant's day starts at its own midnight; the job applies what is due
# on the tenant's local date and is a no-op when nothing is.
@periodic("apply-plan-changes", dt.timedelta(hours=1))
@tenant_actor(max_retries=5)
async def apply_due_plan_changes(scope: Scope) -> None:
    await apply_due(scope.tenant)
