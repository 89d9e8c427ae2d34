"""Whether a tenant's owner has confirmed their email address: one row per tenant, in `public`.

Anyone can sign up with any address, so until the owner proves the mailbox is theirs (by
following the link in the welcome mail) the tenant may mail no one but that address and may
not enroll gateways (see `app.signup.confirmation`). The link's token is stored hashed. A
tenant with no row here counts as unconfirmed: every signup writes one in its transaction, and
the migration that added the table wrote a confirmed row for every tenant that already existed.
"""

from __future__ import annotations

from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from tenants.registry import Tenant


class OwnerConfirmation(Table, tablename="owner_confirmation", schema="public"):
    tenant = ForeignKey(Tenant, on_delete=OnDelete.cascade, primary_key=True)
    owner_email = Varchar(length=320)
    token_hash = Varchar(length=64, null=True, default=None, unique=True)
    """The sha256 of the newest link's token; kept after use, so a second click just says done."""
    expires_at = Timestamptz(null=True, default=None)
    confirmed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


SIGNUP_PUBLIC_TABLES: list[type[Table]] = [OwnerConfirmation]
