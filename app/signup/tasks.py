"""The welcome email, sent by a worker after the signup committed, and the owner's confirmation
link. The link's token is made here, in the job, so it never travels through the queue; a job
that runs twice mails a newer link that replaces the first."""

from __future__ import annotations

from app.core import mail
from app.core.config import get_settings
from app.core.i18n import _, use_language
from app.core.mailtext import unlinkable
from app.identity.access import access_staff
from app.signup import confirmation
from tenants.jobs import Scope, tenant_actor
from tenants.registry import OwnerConfirmation

SIGNATURE = "— Wisp Cloud"


def _confirm_text(link: str) -> str:
    return _(
        "Please confirm that this is your email address by opening this link (it works for "
        "7 days):\n\n"
        "    {link}\n\n"
        "Until you do, your portal sends email to no one but you and cannot enroll "
        "gateways. If you did not sign up, ignore this email and nothing more will be sent."
    ).format(link=link)


def _deliver_after_commit(scope: Scope, to: str, subject: str, text: str) -> None:
    message = mail.build(to, subject, text)

    async def deliver() -> None:
        await mail.send(message)

    scope.after_commit(deliver)


@tenant_actor(max_retries=10)
async def send_welcome(scope: Scope, user_id: str) -> None:
    user = await access_staff(user_id)
    tenant = scope.tenant
    portal = get_settings().portal_url(tenant.slug)
    token = await confirmation.new_link_token(tenant)
    # Typed by whoever signed up: never a link in the mail.
    company = unlinkable(tenant.name)
    with use_language(user["language"] or tenant.language):
        subject = _("Welcome to Wisp Cloud, {company}").format(company=company)
        parts = [
            _(
                "Hello,\n\n"
                "{company} now has its own Wisp Cloud. Your portal is at:\n\n"
                "    {portal}\n\n"
                "Sign in there with {email} and the password you chose. You are its manager: "
                "add your staff, your rate plans and your network from there."
            ).format(company=company, portal=portal, email=user["email"])
        ]
        if token:
            parts.append(_confirm_text(f"{portal}/confirm/{token}"))
    text = "\n\n".join([*parts, SIGNATURE])
    _deliver_after_commit(scope, user["email"], subject, text)


@tenant_actor(max_retries=10)
async def send_owner_confirmation(scope: Scope) -> None:
    """A new confirmation link for the owner, asked for from the portal."""
    tenant = scope.tenant
    token = await confirmation.new_link_token(tenant)
    row = (
        await OwnerConfirmation.select(OwnerConfirmation.owner_email)
        .where(OwnerConfirmation.tenant == tenant.id)
        .first()
    )
    if token is None or row is None:
        return  # confirmed meanwhile: nothing to send
    link = f"{get_settings().portal_url(tenant.slug)}/confirm/{token}"
    with use_language(tenant.language):
        subject = _("Confirm your email address for {company}").format(
            company=unlinkable(tenant.name)
        )
        text = "\n\n".join([_("Hello,"), _confirm_text(link), SIGNATURE])
    _deliver_after_commit(scope, row["owner_email"], subject, text)
