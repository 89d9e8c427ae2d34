"""Reaching passkeys: "not found" for a missing one and for one that belongs to someone else."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.i18n import _
from app.core.problems import NotFound
from app.identity.passkeys.tables import StaffPasskey


async def access_own_passkey(passkey_id: uuid.UUID | str, user_id: str) -> dict[str, Any]:
    """Call inside the tenant scope; another user's passkey is as missing as an unknown one."""
    try:
        pid = uuid.UUID(str(passkey_id))
        owner = uuid.UUID(user_id)
    except ValueError:
        raise NotFound(_("No such passkey.")) from None
    row: dict[str, Any] | None = (
        await StaffPasskey.select()
        .where(StaffPasskey.id == pid, StaffPasskey.staff_user == owner)
        .first()
    )
    if row is None:
        raise NotFound(_("No such passkey."))
    return row


async def count_passkeys(user_id: uuid.UUID) -> int:
    return int(await StaffPasskey.count().where(StaffPasskey.staff_user == user_id))
