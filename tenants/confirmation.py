"""The owner's email confirmation, as every domain checks it.

Anyone can sign up with any address, so until the owner follows the link in the welcome mail
(`app/signup/confirmation.py`) the tenant mails no one but the owner, invites no staff and
enrolls no gateways. A tenant with no row counts as unconfirmed (fails closed).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from app.core.i18n import _
from app.core.problems import Forbidden
from app.core.timeutil import now
from tenants.registry import OwnerConfirmation, TenantRef


class NotConfirmed(Forbidden):
    slug = "email-not-confirmed"

    def title(self) -> str:
        return _("Confirm your email address first")


Gated = Literal["staff", "subscribers", "gateways"]


def not_confirmed(what: Gated) -> NotConfirmed:
    if what == "staff":
        detail = _(
            "Confirm the owner's email address before inviting staff: open the link in the "
            "welcome email, or ask for a new one."
        )
    elif what == "subscribers":
        detail = _(
            "Confirm the owner's email address before this portal emails subscribers: open the "
            "link in the welcome email, or ask for a new one."
        )
    else:
        detail = _(
            "Confirm the owner's email address before adding or enrolling gateways: open the "
            "link in the welcome email, or ask for a new one."
        )
    return NotConfirmed(detail)


async def open_for(tenant_id: uuid.UUID, owner_email: str, *, confirmed: bool) -> None:
    """The tenant's row, written in the signup's transaction."""
    at = now()
    await OwnerConfirmation.insert(
        OwnerConfirmation(
            tenant=tenant_id,
            owner_email=owner_email.strip().lower(),
            confirmed_at=at if confirmed else None,
            created_at=at,
        )
    )


async def confirmation_row(tenant: TenantRef, lock: bool = False) -> dict[str, Any] | None:
    query = OwnerConfirmation.select().where(OwnerConfirmation.tenant == tenant.id)
    if lock:
        query = query.lock_rows("UPDATE")
    row: dict[str, Any] | None = await query.first()
    return row


async def is_confirmed(tenant: TenantRef) -> bool:
    """No row counts as unconfirmed: every signup writes one (fails closed)."""
    row = await confirmation_row(tenant)
    return bool(row and row["confirmed_at"] is not None)


async def require_confirmed(tenant: TenantRef, what: Gated) -> None:
    if not await is_confirmed(tenant):
        raise not_confirmed(what)


async def may_mail(tenant: TenantRef, address: str) -> bool:
    """Whether the tenant may send mail to `address` now: anyone once confirmed, before that
    only the owner."""
    row = await confirmation_row(tenant)
    if row is None:
        return False
    return row["confirmed_at"] is not None or address.strip().lower() == row["owner_email"]
