"""Password reset by email: a single-use link valid for one hour.

Asking for a reset answers the same (202) whatever the address: the lookup, the token and the
mail all happen in a job, so neither the answer nor its timing tells whether an account exists.
One mail per address per minute at most, so the form cannot be used to flood a mailbox.
"""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email

from app.core import audit, inputs
from app.core.audit import Actor
from app.core.i18n import _
from app.core.jobs import enqueue
from app.core.problems import Invalid
from app.core.redis import get_redis, key
from app.core.timeutil import now
from app.identity import sessions, throttle
from app.identity.access import access_staff
from app.identity.passwords import hash_password_async, password_problem
from app.identity.tables import PasswordReset, StaffUser
from app.identity.tokens import matches, plausible, token_hash
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

REQUEST_COOLDOWN = 60


async def request_reset(tenant: TenantRef, email: str, actor: Actor) -> None:
    address = inputs.nfc(email.strip().lower())
    if not _mailable(address):
        return  # no mailbox has this address: nothing to look up, nothing to queue
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    first = await get_redis().set(
        key(tenant.id, "reset-request", digest), "1", nx=True, ex=REQUEST_COOLDOWN
    )
    if first:
        await enqueue(
            "identity.send_password_reset", tenant.id, address, actor.ip, actor.request_id
        )


def _mailable(address: str) -> bool:
    if not 3 <= len(address) <= 320 or inputs.check_text(address) is not None:
        return False
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _link_error(expired: bool = False) -> Invalid:
    if expired:
        return Invalid({"token": _("This reset link has expired. Ask for a new one.")})
    return Invalid({"token": _("This reset link is not valid or was already used.")})


async def confirm_reset(tenant: TenantRef, raw_token: str, password: str, actor: Actor) -> None:
    """Set a new password from a reset link; every session of the user ends.

    Throttled per client address like a sign-in. A good link also clears the account's failed
    sign-ins: the person proved they own the mailbox.
    """
    await throttle.check(tenant, None, actor.ip)
    failure: Invalid | None = None
    email = ""
    async with tenant_scope(tenant):
        reset = None
        if plausible(raw_token):
            found = (
                await PasswordReset.select(PasswordReset.staff_user)
                .where(PasswordReset.token_hash == token_hash(raw_token))
                .first()
            )
            if found is not None:
                # The user's row first, then the link: a reset spends every link of its user,
                # so two links of one user used at once, each locking its own link first,
                # would each wait for the other's link (a deadlock).
                await access_staff(found["staff_user"], lock="UPDATE")
                reset = (
                    await PasswordReset.select()
                    .where(PasswordReset.token_hash == token_hash(raw_token))
                    .lock_rows("UPDATE")
                    .first()
                )
        if (
            reset is None
            or not matches(raw_token, reset["token_hash"])
            or reset["used_at"] is not None
        ):
            failure = _link_error()
        elif reset["expires_at"] <= now():
            failure = _link_error(expired=True)
        else:
            user = await access_staff(reset["staff_user"], lock="UPDATE")
            if not user["is_active"] or user["passkey_only"]:
                failure = _link_error()
            else:
                email = user["email"]
                if problem := password_problem(password, email, user["name"]):
                    await throttle.succeeded(tenant, None, actor.ip)
                    raise Invalid({"password": problem})
                password_hash = await hash_password_async(password)
                await StaffUser.update({StaffUser.password_hash: password_hash}).where(
                    StaffUser.id == user["id"]
                )
                # Every link of this user is spent: one reset, one new password.
                await PasswordReset.update({PasswordReset.used_at: now()}).where(
                    PasswordReset.staff_user == user["id"], PasswordReset.used_at.is_null()
                )
                owner = Actor(
                    type="staff",
                    id=user["id"],
                    label=email,
                    ip=actor.ip,
                    request_id=actor.request_id,
                )
                await audit.record(
                    owner, "auth.password_reset", "staff_user", user["id"], reset=str(reset["id"])
                )
                # After the row lock, before the commit: a failure here changes nothing.
                await sessions.end_all(tenant, str(user["id"]))
    if failure is not None:
        await throttle.failed(tenant, None, actor.ip)
        raise failure
    await throttle.succeeded(tenant, email, actor.ip)
