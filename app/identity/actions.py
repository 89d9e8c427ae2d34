"""Staff identity actions: each one transaction, audited, side effects after commit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app import audit
from app.audit import Actor
from app.i18n import _
from app.identity import sessions
from app.identity.access import normalise_email, staff_by_email
from app.identity.passwords import hash_password, needs_rehash, verify_password
from app.identity.sessions import Principal
from app.identity.tables import StaffUser
from app.problems import Unauthorized
from tenants.registry import TenantRef
from tenants.scope import tenant_scope


async def add_staff(
    email: str, name: str, role: str, password: str | None, language: str | None = None
) -> uuid.UUID:
    """Insert a staff user; the caller holds the tenant scope (or the signup transaction)."""
    user_id = uuid.uuid4()
    await StaffUser.insert(
        StaffUser(
            id=user_id,
            email=normalise_email(email),
            name=name.strip(),
            role=role,
            password_hash=hash_password(password) if password else None,
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
    """Check the password and start a session; the same answer for any kind of failure."""
    failed = Unauthorized(_("The email or password is not correct."))
    async with tenant_scope(tenant):
        user = await staff_by_email(email)
        ok = verify_password(user["password_hash"] if user else None, password)
        if not user or not ok or not user["is_active"]:
            await audit.record(
                actor,
                "auth.login_failed",
                "staff_user",
                user["id"] if user else "",
                email=normalise_email(email)[:320],
            )
            failure = True
        else:
            failure = False
            updates: dict[Any, Any] = {StaffUser.last_login_at: dt.datetime.now(dt.UTC)}
            if needs_rehash(user["password_hash"]):
                updates[StaffUser.password_hash] = hash_password(password)
            await StaffUser.update(updates).where(StaffUser.id == user["id"])
            signed_in = Actor(
                type="staff",
                id=user["id"],
                label=user["email"],
                ip=actor.ip,
                request_id=actor.request_id,
            )
            await audit.record(signed_in, "auth.login", "staff_user", user["id"])
    if failure:
        raise failed
    assert user is not None
    principal = principal_for(user)
    session_id = await sessions.start(tenant, principal)
    return session_id, principal


async def logout(tenant: TenantRef, session_id: str, principal: Principal, actor: Actor) -> None:
    await sessions.end(tenant, session_id)
    async with tenant_scope(tenant):
        await audit.record(actor, "auth.logout", "staff_user", principal.user_id)


async def list_staff(
    tenant: TenantRef, limit: int = 50, after_email: str | None = None
) -> list[dict[str, Any]]:
    """Staff ordered by email (unique, so the order is stable for cursor paging)."""
    async with tenant_scope(tenant):
        query = StaffUser.select().order_by(StaffUser.email).limit(limit)
        if after_email:
            query = query.where(StaffUser.email > after_email)
        rows: list[dict[str, Any]] = await query
    return rows
