"""The welcome email, sent by a worker after the signup committed."""

from __future__ import annotations

from app.core import mail
from app.core.config import get_settings
from app.core.i18n import _, use_language
from app.identity.access import access_staff
from tenants.jobs import Scope, tenant_actor


@tenant_actor(max_retries=10)
async def send_welcome(scope: Scope, user_id: str) -> None:
    user = await access_staff(user_id)
    tenant = scope.tenant
    portal = get_settings().portal_url(tenant.slug)
    with use_language(user["language"] or tenant.language):
        subject = _("Welcome to Wisp Cloud, {company}").format(company=tenant.name)
        text = _(
            "Hello,\n\n"
            "{company} now has its own Wisp Cloud. Your portal is at:\n\n"
            "    {portal}\n\n"
            "Sign in there with {email} and the password you chose. You are its manager: "
            "add your staff, your rate plans and your network from there.\n\n"
            "— Wisp Cloud"
        ).format(company=tenant.name, portal=portal, email=user["email"])
    message = mail.build(user["email"], subject, text)

    async def deliver() -> None:
        await mail.send(message)

    scope.after_commit(deliver)
