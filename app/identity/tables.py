from __future__ import annotations

from piccolo.columns import UUID, Boolean, Timestamptz, Varchar
from piccolo.table import Table


class StaffUser(Table, tablename="staff_user"):
    id = UUID(primary_key=True)
    email = Varchar(length=320, unique=True)
    name = Varchar(length=200, default="")
    password_hash = Varchar(length=200, null=True, default=None)
    role = Varchar(length=20)
    is_active = Boolean(default=True)
    language = Varchar(length=8, null=True, default=None)
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)
    passkey_only = Boolean(default=False)
    """Refuse password sign-in: the user signs in with a registered passkey only."""


class StaffInvitation(Table, tablename="staff_invitation"):
    """An invitation to join as staff: single use, expiring; only the token's hash is kept.

    The token is made by the job that mails it (`token_hash` stays empty until then), so the
    secret never travels through the queue or the logs.
    """

    id = UUID(primary_key=True)
    email = Varchar(length=320, index=True)
    role = Varchar(length=20)
    token_hash = Varchar(length=64, null=True, default=None, unique=True)
    invited_by = UUID(null=True, default=None)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    accepted_at = Timestamptz(null=True, default=None)
    accepted_user = UUID(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class PasswordReset(Table, tablename="password_reset"):
    """A single-use, expiring password-reset token (its sha256 only)."""

    id = UUID(primary_key=True)
    staff_user = UUID(index=True)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class ApiToken(Table, tablename="api_token"):
    """A bearer token for integrations, acting with one staff role; only its sha256 is kept."""

    id = UUID(primary_key=True)
    name = Varchar(length=100)
    role = Varchar(length=20)
    token_hash = Varchar(length=64, unique=True)
    hint = Varchar(length=16, default="")
    """The token's first characters, so people can tell their tokens apart."""
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
