from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    Boolean,
    Bytea,
    ForeignKey,
    OnDelete,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.identity.tables import StaffUser


class StaffPasskey(Table, tablename="staff_passkey"):
    """A staff user's WebAuthn credential, bound to the RP ID (host) it was registered on."""

    id = UUID(primary_key=True)
    staff_user = ForeignKey(StaffUser, on_delete=OnDelete.cascade, null=False, index=True)
    # base64url of the raw credential id (at most 1023 bytes, so at most 1364 characters).
    credential_id = Varchar(length=1400, unique=True)
    public_key = Bytea()
    # The authenticator's counter is an unsigned 32-bit integer: it does not fit a signed INTEGER.
    sign_count = BigInt(default=0)
    rp_id = Varchar(length=253)
    name = Varchar(length=100, default="")
    aaguid = Varchar(length=36, default="")
    transports = JSONB(default=[])
    device_type = Varchar(length=20, default="")
    backed_up = Boolean(default=False)
    user_verified = Boolean(default=False)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
