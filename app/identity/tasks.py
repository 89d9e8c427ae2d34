"""Identity jobs: invitation and password-reset mails, session housekeeping.

The mailing jobs make the token themselves and store only its hash, so the secret never
travels through the queue or a log line; it exists in the worker's memory and in the mail. A
job that runs twice (at-least-once delivery) mails a fresh token that replaces the first.
"""

from __future__ import annotations

import datetime as dt
import uuid

from app.core import audit, mail
from app.core.audit import Actor
from app.core.config import get_settings
from app.core.i18n import _, use_language
from app.core.mailtext import unlinkable
from app.core.roles import Role
from app.core.timeutil import now
from app.identity import sessions
from app.identity.access import staff_by_email
from app.identity.roles import ROLE_LABELS
from app.identity.tables import PasswordReset, StaffInvitation, StaffUser
from app.identity.tokens import new_token
from tenants.confirmation import may_mail
from tenants.jobs import Scope, periodic, tenant_actor

RESET_TTL = dt.timedelta(hours=1)


@periodic("prune-sessions", dt.timedelta(hours=1))
@tenant_actor(max_retries=3)
async def prune_sessions(scope: Scope) -> None:
    """Drop expired sessions from each user's index, so "sign out everywhere" stays cheap."""
    ids = await StaffUser.select(StaffUser.id)
    for row in ids:
        await sessions.prune(scope.tenant, str(row["id"]))


def _deliver_after_commit(scope: Scope, to: str, subject: str, text: str) -> None:
    message = mail.build(to, subject, text)

    async def deliver() -> None:
        await mail.send(message)

    scope.after_commit(deliver)


@tenant_actor(max_retries=10)
async def send_invitation(scope: Scope, invitation_id: str) -> None:
    invitation = (
        await StaffInvitation.select()
        .where(StaffInvitation.id == uuid.UUID(invitation_id))
        .lock_rows("UPDATE")
        .first()
    )
    if (
        invitation is None
        or invitation["accepted_at"] is not None
        or invitation["revoked_at"] is not None
        or invitation["expires_at"] <= now()
        # Refused when inviting; checked again in case the invitation predates a change.
        or not await may_mail(scope.tenant, invitation["email"])
    ):
        return
    token, token_hash = new_token()
    await StaffInvitation.update(
        {StaffInvitation.token_hash: token_hash, StaffInvitation.sent_at: now()}
    ).where(StaffInvitation.id == invitation["id"])
    inviter = None
    if invitation["invited_by"] is not None:
        inviter = (
            await StaffUser.select(StaffUser.name)
            .where(StaffUser.id == invitation["invited_by"])
            .first()
        )
    tenant = scope.tenant
    link = f"{get_settings().portal_url(tenant.slug)}/invite/{token}"
    with use_language(tenant.language):
        role = str(ROLE_LABELS[Role(invitation["role"])])
        company = unlinkable(tenant.name)
        subject = _("You are invited to join {company} on Wisp Cloud").format(company=company)
        text = _(
            "Hello,\n\n"
            "{inviter} invited you to join {company} on Wisp Cloud as {role}.\n\n"
            "To accept, open this link and choose your name and password:\n\n"
            "    {link}\n\n"
            "The link works once and expires in 72 hours. If you did not expect this "
            "invitation, you can ignore this email.\n\n"
            "— Wisp Cloud"
        ).format(
            inviter=unlinkable(inviter["name"]) if inviter else company,
            company=company,
            role=role,
            link=link,
        )
    _deliver_after_commit(scope, invitation["email"], subject, text)


@tenant_actor(max_retries=10)
async def send_password_reset(scope: Scope, email: str, ip: str, request_id: str) -> None:
    """Mail a reset link to an active user; unknown, inactive and passkey-only users get none
    (a passkey-only account must not be recoverable through its mailbox alone)."""
    user = await staff_by_email(email)
    if user is None or not user["is_active"] or user["passkey_only"]:
        return
    token, token_hash = new_token()
    created = now()
    reset_id = uuid.uuid4()
    await PasswordReset.insert(
        PasswordReset(
            id=reset_id,
            staff_user=user["id"],
            token_hash=token_hash,
            created_at=created,
            expires_at=created + RESET_TTL,
        )
    )
    requester = Actor(type="anonymous", ip=ip, request_id=request_id)
    await audit.record(
        requester, "auth.password_reset_requested", "staff_user", user["id"], reset=str(reset_id)
    )
    tenant = scope.tenant
    link = f"{get_settings().portal_url(tenant.slug)}/reset/{token}"
    with use_language(user["language"] or tenant.language):
        subject = _("Reset your Wisp Cloud password")
        text = _(
            "Hello,\n\n"
            "Someone asked to reset the password of {email} at {company}. To choose a new "
            "password, open this link:\n\n"
            "    {link}\n\n"
            "The link works once and expires in one hour. If you did not ask for this, ignore "
            "this email: your password stays as it is.\n\n"
            "— Wisp Cloud"
        ).format(email=user["email"], company=unlinkable(tenant.name), link=link)
    _deliver_after_commit(scope, user["email"], subject, text)
