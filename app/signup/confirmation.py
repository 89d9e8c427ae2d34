"""The owner's email address, confirmed before the tenant mails anyone else or enrolls gateways.

Signup is anonymous, so the address it names may belong to someone else, and the company name
is whatever the caller typed. Until the owner follows the link in the welcome mail
(`{portal}/confirm/{token}`, single use, 7 days, stored hashed), the tenant may mail only that
address: staff invitations, subscriber invitations and invoice mails are refused or held, and
gateways cannot be added or enrolled. Whoever signs up cannot turn a fresh tenant into a
mailer to strangers, nor into a place to register devices, with an address they do not own.
"""

from __future__ import annotations

import datetime as dt

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.jobs import enqueue_after_commit
from app.core.problems import Conflict, Invalid, TooManyRequests
from app.core.redis import get_redis, key
from app.core.timeutil import now
from app.identity import throttle
from app.identity.tokens import matches, new_token, plausible
from tenants.confirmation import confirmation_row, is_confirmed
from tenants.registry import OwnerConfirmation, TenantRef
from tenants.scope import tenant_scope

LINK_TTL = dt.timedelta(days=7)
RESEND_EVERY = 60
"""Seconds between two confirmation mails asked for by hand."""


async def new_link_token(tenant: TenantRef) -> str | None:
    """A fresh token for the owner's link (its hash replaces the previous one), or None once
    confirmed. Made in the mailing job, so the secret never travels through the queue."""
    row = await confirmation_row(tenant, lock=True)
    if row is None or row["confirmed_at"] is not None:
        return None
    raw, digest = new_token()
    await OwnerConfirmation.update(
        {OwnerConfirmation.token_hash: digest, OwnerConfirmation.expires_at: now() + LINK_TTL}
    ).where(OwnerConfirmation.tenant == tenant.id)
    return raw


def _bad_link() -> Invalid:
    return Invalid(
        {
            "token": _(
                "This confirmation link is not valid or has expired. Sign in and ask for a new one."
            )
        }
    )


async def confirm(tenant: TenantRef, token: str, actor: Actor) -> None:
    """Confirm with the mailed token; the same token again is fine (a second click)."""
    await throttle.check(tenant, None, actor.ip)  # guessing is hopeless, but costs nothing
    ok = False
    async with tenant_scope(tenant):
        row = await confirmation_row(tenant, lock=True)
        if row is not None and plausible(token) and matches(token, row["token_hash"]):
            if row["confirmed_at"] is not None:
                ok = True
            elif row["expires_at"] is not None and row["expires_at"] > now():
                await OwnerConfirmation.update({OwnerConfirmation.confirmed_at: now()}).where(
                    OwnerConfirmation.tenant == tenant.id
                )
                await audit.record(
                    actor,
                    "tenant.owner_email_confirmed",
                    "tenant",
                    tenant.id,
                    email=row["owner_email"],
                )
                ok = True
    if not ok:
        await throttle.failed(tenant, None, actor.ip)
        raise _bad_link()
    await throttle.succeeded(tenant, None, actor.ip)


async def resend(tenant: TenantRef, actor: Actor) -> None:
    """Mail the owner a new link (the old one stops working); at most once a minute."""
    async with tenant_scope(tenant) as scope:
        if await is_confirmed(tenant):
            raise Conflict(_("The owner's email address is already confirmed."))
        redis = get_redis()
        gate = key(tenant.id, "owner-confirmation", "resent")
        if not await redis.set(gate, "1", nx=True, ex=RESEND_EVERY):
            wait = max(1, int(await redis.ttl(gate)))
            raise TooManyRequests(
                _("A confirmation email was just sent. Try again in {seconds} seconds.").format(
                    seconds=wait
                ),
                retry_after=wait,
            )
        await audit.record(actor, "tenant.owner_confirmation_sent", "tenant", tenant.id)
        tenant_id = str(tenant.id)

        enqueue_after_commit(scope, "signup.send_owner_confirmation", tenant_id)
