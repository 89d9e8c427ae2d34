"""Staff identity actions: each one transaction, audited, side effects after commit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.principal import Principal
from app.core.problems import Invalid, Unauthorized
from app.identity import sessions, throttle
from app.identity.access import access_staff, normalise_email, staff_by_email
from app.identity.passwords import (
    hash_password_async,
    needs_rehash,
    password_problem,
    verify_password_async,
)
from app.identity.tables import StaffUser
from tenants.registry import TenantRef
from tenants.scope import tenant_scope


async def add_staff(
    email: str,
    name: str,
    role: str,
    password: str | None,
    language: str | None = None,
    *,
    password_hash: str | None = None,
) -> uuid.UUID:
    """Insert a staff user; the caller holds the tenant scope (or the signup transaction)."""
    user_id = uuid.uuid4()
    await StaffUser.insert(
        StaffUser(
            id=user_id,
            email=normalise_email(email),
            name=name.strip(),
            role=role,
            password_hash=password_hash
            or (await hash_password_async(password) if password else None),
            language=language,
            created_at=dt.datetime.now(dt.UTC),
        )
    )
    return user_id


def principal_for(user: dict[str, Any]) -> Principal:
    return Principal(
        kind="staff",
        user_id=str(user["id"]),
        email=user["email"],
        name=user["name"],
        role=user["role"],
        language=user["language"],
        created_at=0.0,
    )


async def login(
    tenant: TenantRef, email: str, password: str, actor: Actor
) -> tuple[str, Principal]:
    """Check the password and start a session; the same answer for any kind of failure.

    Throttled before the password is checked. The password is checked outside any transaction
    (argon2 holds no connection and no lock); then one UPDATE takes the user's row lock and
    re-checks what the check relied on (still active, not passkey-only, the same password
    hash), and the session starts under that lock. A deactivation, role or password change
    locks the same row FOR UPDATE, so it either waits for this sign-in and then ends the new
    session with the others, or commits first and the UPDATE finds no row. No shared lock is
    ever upgraded, so concurrent sign-ins of one user queue instead of deadlocking.
    """
    account = normalise_email(email)
    await throttle.check(tenant, account, actor.ip)
    async with tenant_scope(tenant):
        user = await staff_by_email(account)
    ok = await verify_password_async(user["password_hash"] if user else None, password)
    eligible = user is not None and ok and user["is_active"] and not user["passkey_only"]
    rehash = None
    if eligible and user is not None and needs_rehash(user["password_hash"]):
        rehash = await hash_password_async(password)
    session_id = ""
    try:
        async with tenant_scope(tenant):
            signed_in = await _claim_sign_in(user, password, rehash) if eligible and user else None
            if signed_in is None:
                await audit.record(
                    actor,
                    "auth.login_failed",
                    "staff_user",
                    user["id"] if user else "",
                    email=account[:320],
                )
            else:
                await audit.record(
                    as_user(signed_in, actor), "auth.login", "staff_user", signed_in["id"]
                )
                principal = principal_for(signed_in)
                session_id = await sessions.start(tenant, principal)
    except BaseException:
        if session_id:  # started, but the sign-in did not commit
            await sessions.end(tenant, session_id)
        raise
    if not session_id:
        await throttle.failed(tenant, account, actor.ip)
        raise Unauthorized(_("The email or password is not correct."))
    await throttle.succeeded(tenant, account, actor.ip)
    return session_id, principal


async def _claim_sign_in(
    user: dict[str, Any], password: str, rehash: str | None
) -> dict[str, Any] | None:
    """Stamp the sign-in with one UPDATE (the row lock, taken once); None if the user changed
    since the password was checked."""
    updates: dict[Any, Any] = {StaffUser.last_login_at: dt.datetime.now(dt.UTC)}
    if rehash:
        updates[StaffUser.password_hash] = rehash
    still = StaffUser.is_active.eq(True) & StaffUser.passkey_only.eq(False)
    rows: list[dict[str, Any]] = (
        await StaffUser.update(updates)
        .where(
            (StaffUser.id == user["id"])
            & still
            & (StaffUser.password_hash == user["password_hash"])
        )
        .returning(*StaffUser.all_columns())
    )
    if rows:
        return rows[0]
    # The hash changed meanwhile: a concurrent sign-in upgraded it (same password, new
    # parameters) or the password was changed. Check the password against the current hash,
    # under the row lock (taken FOR UPDATE at once, never upgraded). Rare, so argon2 may wait.
    current: dict[str, Any] | None = (
        await StaffUser.select()
        .where((StaffUser.id == user["id"]) & still)
        .lock_rows("UPDATE")
        .first()
    )
    if current is None or current["password_hash"] == user["password_hash"]:
        return None
    if not await verify_password_async(current["password_hash"], password):
        return None
    await StaffUser.update({StaffUser.last_login_at: updates[StaffUser.last_login_at]}).where(
        StaffUser.id == current["id"]
    )
    return current


def as_user(user: dict[str, Any], actor: Actor) -> Actor:
    """The request's actor, now known to be this staff user."""
    return Actor(
        type="staff", id=user["id"], label=user["email"], ip=actor.ip, request_id=actor.request_id
    )


async def logout(tenant: TenantRef, session_id: str, principal: Principal, actor: Actor) -> None:
    await sessions.end(tenant, session_id)
    async with tenant_scope(tenant):
        await audit.record(actor, "auth.logout", "staff_user", principal.user_id)


async def logout_everywhere(tenant: TenantRef, principal: Principal, actor: Actor) -> int:
    ended = await sessions.end_all(tenant, principal.user_id)
    async with tenant_scope(tenant):
        await audit.record(
            actor, "auth.logout_everywhere", principal.kind, principal.user_id, sessions=ended
        )
    return ended


async def change_password(
    tenant: TenantRef, principal: Principal, current: str, new: str, actor: Actor
) -> None:
    """Change one's own password; every other session of the user ends.

    The current password is a password guess like any other, so it is throttled like a
    sign-in, and a wrong one is audited (in its own committed transaction).
    """
    await throttle.check(tenant, principal.email, actor.ip)
    wrong, problem = False, None
    async with tenant_scope(tenant):
        user = await access_staff(principal.user_id, lock="UPDATE")
        if not await verify_password_async(user["password_hash"], current):
            wrong = True
            await audit.record(actor, "auth.password_change_failed", "staff_user", user["id"])
        elif not (problem := password_problem(new, user["email"], user["name"])):
            password_hash = await hash_password_async(new)
            await StaffUser.update({StaffUser.password_hash: password_hash}).where(
                StaffUser.id == user["id"]
            )
            await audit.record(actor, "auth.password_changed", "staff_user", user["id"])
            # Inside the transaction, after the row lock: if Redis fails nothing has changed;
            # if the commit fails, the other sessions merely have to sign in again.
            await sessions.end_others(tenant, principal.user_id, principal.session_hash)
    if wrong:
        await throttle.failed(tenant, principal.email, actor.ip)
        raise Invalid({"current_password": _("The current password is not correct.")})
    await throttle.succeeded(tenant, principal.email, actor.ip)
    if problem:
        raise Invalid({"new_password": problem})


async def list_staff(
    tenant: TenantRef,
    limit: int = 50,
    after_email: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> list[dict[str, Any]]:
    """Staff ordered by email (unique, so the order is stable for cursor paging)."""
    async with tenant_scope(tenant):
        query = StaffUser.select().order_by(StaffUser.email).limit(limit)
        if after_email:
            query = query.where(StaffUser.email > after_email)
        if role:
            query = query.where(StaffUser.role == role)
        if active is not None:
            query = query.where(StaffUser.is_active == active)
        rows: list[dict[str, Any]] = await query
    return rows
