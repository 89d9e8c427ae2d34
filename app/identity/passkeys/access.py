"""Reaching passkeys: "not found" for a missing one and for one that belongs to someone else;
the passkey and its user locked for a sign-in."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.i18n import _
from app.core.problems import NotFound
from app.identity.passkeys.tables import StaffPasskey
from app.identity.tables import StaffUser


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


async def lock_passkey_and_user(
    credential_id: str,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The passkey and its user, both locked FOR UPDATE, the user first.

    User before passkey is the order every passkey action takes (registration, removal and
    passkey-only lock the user, then touch passkeys), and FOR UPDATE from the start means no
    shared lock is upgraded when the sign-in is stamped: two sign-ins of one user queue, they
    never deadlock. A deactivation locks the user too, so it waits for this sign-in and then
    ends its session, or comes first and we read is_active = false.
    """
    found = (
        await StaffPasskey.select(StaffPasskey.staff_user)
        .where(StaffPasskey.credential_id == credential_id)
        .first()
    )
    if found is None:
        return None, None
    user = (
        await StaffUser.select()
        .where(StaffUser.id == found["staff_user"])
        .lock_rows("UPDATE")
        .first()
    )
    # Read again under the lock: removed (or, in theory, moved) since the first read?
    passkey = (
        await StaffPasskey.select()
        .where(
            (StaffPasskey.credential_id == credential_id)
            & (StaffPasskey.staff_user == found["staff_user"])
        )
        .lock_rows("UPDATE")
        .first()
    )
    if passkey is None:
        return None, None
    return passkey, user
