"""Reaching staff users: "not found" for a user that is missing and for one that is not yours."""

from __future__ import annotations

import uuid
from typing import Any

from app.i18n import _
from app.identity.tables import StaffUser
from app.problems import NotFound


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def staff_by_email(email: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await StaffUser.select().where(StaffUser.email == normalise_email(email)).first()
    )
    return row


async def access_staff(user_id: uuid.UUID | str) -> dict[str, Any]:
    """Call inside the tenant scope: the search path makes other tenants' users unreachable."""
    try:
        uid = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound(_("No such user.")) from None
    row: dict[str, Any] | None = await StaffUser.select().where(StaffUser.id == uid).first()
    if row is None:
        raise NotFound(_("No such user."))
    return row
