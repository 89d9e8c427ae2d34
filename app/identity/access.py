"""Reaching staff users: "not found" for a user that is missing and for one that is not yours."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from app.core.i18n import _
from app.core.problems import NotFound
from app.core.roles import Role
from app.identity.tables import StaffUser

Lock = Literal["UPDATE", "SHARE"]


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def staff_by_email(email: str, lock: Lock | None = None) -> dict[str, Any] | None:
    query = StaffUser.select().where(StaffUser.email == normalise_email(email))
    if lock:
        query = query.lock_rows(lock)
    row: dict[str, Any] | None = await query.first()
    return row


async def access_staff(user_id: uuid.UUID | str, lock: Lock | None = None) -> dict[str, Any]:
    """Call inside the tenant scope: the search path makes other tenants' users unreachable.

    `lock="UPDATE"` takes the row lock while changing the user, so a sign-in (which locks the
    row with its UPDATE) and a deactivation or role change are serialised: whichever comes
    second sees the first's result. Never read with `SHARE` and then update: two such
    transactions deadlock on the upgrade.
    """
    try:
        uid = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound(_("No such user.")) from None
    query = StaffUser.select().where(StaffUser.id == uid)
    if lock:
        query = query.lock_rows(lock)
    row: dict[str, Any] | None = await query.first()
    if row is None:
        raise NotFound(_("No such user."))
    return row


async def active_managers() -> list[dict[str, Any]]:
    """Email and language of every active manager: whom the system tells when something needs
    a decision (a gateway offline, suspensions halted)."""
    rows: list[dict[str, Any]] = (
        await StaffUser.select(StaffUser.email, StaffUser.language)
        .where(StaffUser.role == Role.MANAGER, StaffUser.is_active.eq(True))
        .order_by(StaffUser.email)
    )
    return rows


async def active_staff(user_id: uuid.UUID | str) -> dict[str, Any] | None:
    """The user, if it exists in this tenant and is active."""
    try:
        row = await access_staff(user_id)
    except NotFound:
        return None
    return row if row["is_active"] else None
