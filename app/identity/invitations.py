"""Staff invitations: a manager invites by email with a role; the link works once, for 72 h."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from email_validator import EmailNotValidError, validate_email

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.jobs import enqueue_after_commit
from app.core.problems import Conflict, Invalid, NotFound
from app.core.timeutil import iso, now
from app.identity import throttle
from app.identity.access import access_staff, normalise_email, staff_by_email
from app.identity.actions import add_staff
from app.identity.management import name_error, role_error
from app.identity.passwords import hash_password_async, password_problem
from app.identity.schemas import AcceptInvitationIn, InvitationIn, InvitationOut
from app.identity.tables import StaffInvitation
from app.identity.tokens import matches, plausible, token_hash
from tenants.confirmation import require_confirmed
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

INVITATION_TTL = dt.timedelta(hours=72)


def invitation_out(row: dict[str, Any]) -> InvitationOut:
    return InvitationOut(
        id=str(row["id"]),
        email=row["email"],
        role=row["role"],
        created_at=iso(row["created_at"]),
        expires_at=iso(row["expires_at"]),
        sent=row["sent_at"] is not None,
    )


def _email_error(email: str) -> str | None:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return _("Enter a valid email address.")
    return None if len(email) <= 320 else _("Enter a valid email address.")


def _pending() -> Any:
    return (
        StaffInvitation.accepted_at.is_null()
        & StaffInvitation.revoked_at.is_null()
        & (StaffInvitation.expires_at > now())
    )


async def invite(
    tenant: TenantRef, data: InvitationIn, actor: Actor, idempotency: IdempotencyKey | None
) -> InvitationOut:
    email = normalise_email(data.email)
    errors = {}
    if problem := _email_error(email):
        errors["email"] = problem
    if problem := role_error(data.role):
        errors["role"] = problem
    if errors:
        raise Invalid(errors)
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, InvitationOut)
        await require_confirmed(tenant, "staff")
        if await staff_by_email(email) is not None:
            raise Conflict(_("This person is already on your staff."), field="email")
        if await StaffInvitation.exists().where(StaffInvitation.email == email, _pending()):
            raise Conflict(
                _("This person already has a pending invitation. Revoke it to send a new one."),
                field="email",
            )
        created = now()
        row = {
            "id": uuid.uuid4(),
            "email": email,
            "role": data.role,
            "created_at": created,
            "expires_at": created + INVITATION_TTL,
            "sent_at": None,
        }
        await StaffInvitation.insert(
            StaffInvitation(
                id=row["id"],
                email=email,
                role=data.role,
                invited_by=actor.id if actor.type == "staff" else None,
                created_at=created,
                expires_at=row["expires_at"],
            )
        )
        await audit.record(
            actor, "invitation.created", "staff_invitation", row["id"], email=email, role=data.role
        )
        out = invitation_out(row)
        await scope.remember(out)

        enqueue_after_commit(scope, "identity.send_invitation", tenant.id, row["id"])
    return out


async def list_pending(tenant: TenantRef) -> list[InvitationOut]:
    """Pending invitations, newest first (there are few: each expires within 72 hours)."""
    async with tenant_scope(tenant):
        rows = (
            await StaffInvitation.select()
            .where(_pending())
            .order_by(StaffInvitation.created_at, ascending=False)
            .order_by(StaffInvitation.id, ascending=False)
        )
    return [invitation_out(r) for r in rows]


async def revoke(tenant: TenantRef, invitation_id: str, actor: Actor) -> None:
    """Revoke an invitation; revoking one that is already revoked changes nothing."""
    try:
        iid = uuid.UUID(invitation_id)
    except ValueError:
        raise NotFound(_("No such invitation.")) from None
    async with tenant_scope(tenant):
        row = (
            await StaffInvitation.select()
            .where(StaffInvitation.id == iid)
            .lock_rows("UPDATE")
            .first()
        )
        if row is None:
            raise NotFound(_("No such invitation."))
        if row["accepted_at"] is not None:
            raise Conflict(_("This invitation was already accepted. Deactivate the user instead."))
        if row["revoked_at"] is None:
            await StaffInvitation.update({StaffInvitation.revoked_at: now()}).where(
                StaffInvitation.id == iid
            )
            await audit.record(
                actor, "invitation.revoked", "staff_invitation", iid, email=row["email"]
            )


def _link_error(expired: bool = False) -> Invalid:
    if expired:
        return Invalid({"token": _("This invitation has expired. Ask your manager for a new one.")})
    return Invalid({"token": _("This invitation link is not valid or was already used.")})


async def accept(
    tenant: TenantRef,
    data: AcceptInvitationIn,
    actor: Actor,
    idempotency: IdempotencyKey | None = None,
) -> dict[str, Any]:
    """Create the invited user. A reused, revoked, expired or unknown token changes nothing.

    Attempts are throttled per client address (no account is known before the token is):
    a guess costs as much as a failed sign-in. A retry with the same `Idempotency-Key` answers
    the user the first request created.
    """
    await throttle.check(tenant, None, actor.ip)
    failure: Invalid | None = None
    try:
        async with tenant_scope(tenant, idempotency=idempotency) as scope:
            if scope.replayed:
                return await access_staff(scope.replay["user_id"])
            invitation = None
            if plausible(data.token):
                invitation = (
                    await StaffInvitation.select()
                    .where(StaffInvitation.token_hash == token_hash(data.token))
                    .lock_rows("UPDATE")
                    .first()
                )
            if (
                invitation is None
                or not matches(data.token, invitation["token_hash"])
                or invitation["accepted_at"] is not None
                or invitation["revoked_at"] is not None
            ):
                failure = _link_error()
            elif invitation["expires_at"] <= now():
                failure = _link_error(expired=True)
            if failure is not None:
                raise failure  # inside the scope: the key's claim rolls back, a retry is new
            assert invitation is not None
            user = await _create_user(tenant, invitation, data, actor)
            await scope.remember({"user_id": str(user["id"])})
    except Invalid:
        if failure is not None:
            await throttle.failed(tenant, None, actor.ip)
        raise
    await throttle.succeeded(tenant, None, actor.ip)
    return user


async def _create_user(
    tenant: TenantRef, invitation: dict[str, Any], data: AcceptInvitationIn, actor: Actor
) -> dict[str, Any]:
    """The token is good: validate the rest and create the user (problems roll back)."""
    email = invitation["email"]
    errors = {}
    if problem := name_error(data.name):
        errors["name"] = problem
    if problem := password_problem(data.password, email, data.name, tenant.name, tenant.slug):
        errors["password"] = problem
    if errors:
        await throttle.succeeded(tenant, None, actor.ip)
        raise Invalid(errors)
    if await staff_by_email(email) is not None:
        await throttle.succeeded(tenant, None, actor.ip)
        raise Conflict(_("This person is already on your staff."), field="email")
    password_hash = await hash_password_async(data.password)
    user_id = await add_staff(
        email, data.name, invitation["role"], None, None, password_hash=password_hash
    )
    accepted = now()
    await StaffInvitation.update(
        {StaffInvitation.accepted_at: accepted, StaffInvitation.accepted_user: user_id}
    ).where(StaffInvitation.id == invitation["id"])
    # Other pending invitations to the same address can no longer be used: retire them.
    await StaffInvitation.update({StaffInvitation.revoked_at: accepted}).where(
        StaffInvitation.email == email, _pending()
    )
    newcomer = Actor(
        type="staff", id=user_id, label=email, ip=actor.ip, request_id=actor.request_id
    )
    await audit.record(
        newcomer,
        "invitation.accepted",
        "staff_invitation",
        invitation["id"],
        user=str(user_id),
        role=invitation["role"],
    )
    return await access_staff(user_id)
