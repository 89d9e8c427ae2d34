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

    Throttled before the password is checked. The user's row is read FOR SHARE and the session
    starts inside that transaction: a deactivation or role change waits until this sign-in
    commits and then ends the new session with the others, so no session outlives either.
    """
    account = normalise_email(email)
    await throttle.check(tenant, account, actor.ip)
    session_id = ""
    try:
        async with tenant_scope(tenant):
            user = await staff_by_email(account, lock="SHARE")
            ok = await verify_password_async(user["password_hash"] if user else None, password)
            if not user or not ok or not user["is_active"] or user["passkey_only"]:
                await audit.record(
                    actor,
                    "auth.login_failed",
                    "staff_user",
                    user["id"] if user else "",
                    email=account[:320],
                )
            else:
                updates: dict[Any, Any] = {StaffUser.last_login_at: dt.datetime.now(dt.UTC)}
                if needs_rehash(user["password_hash"]):
                    updates[StaffUser.password_hash] = await hash_password_async(password)
                await StaffUser.update(updates).where(StaffUser.id == user["id"])
                await audit.record(as_user(user, actor), "auth.login", "staff_user", user["id"])
                principal = principal_for(user)
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
