"""Managing staff: roles, names, deactivation. A tenant always keeps one active manager.

The "last active manager" rule is checked with every active manager's row locked (SELECT …
FOR UPDATE, in id order so two such actions never deadlock), so two managers demoting each
other at the same moment cannot both succeed. Sessions are ended inside the transaction, after
the locks: a concurrent sign-in either finished first (its session is ended here) or waits and
then sees the change.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.problems import Conflict, Invalid
from app.core.roles import Role
from app.identity import sessions
from app.identity.access import access_staff
from app.identity.schemas import StaffPatchIn
from app.identity.tables import StaffUser
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

MANAGER = Role.MANAGER.value
ROLES = frozenset(r.value for r in Role)


def role_error(role: str) -> str | None:
    if role not in ROLES:
        return _("Choose one of: manager, sales, customer_service, finance, technical.")
    return None


def name_error(name: str) -> str | None:
    if not 1 <= len(name.strip()) <= 200:
        return _("Enter a name of 1 to 200 characters.")
    return None


async def _lock_active_managers() -> list[uuid.UUID]:
    rows = (
        await StaffUser.select(StaffUser.id)
        .where(StaffUser.role == MANAGER, StaffUser.is_active.eq(True))
        .order_by(StaffUser.id)
        .lock_rows("UPDATE")
    )
    return [r["id"] for r in rows]


def _refuse_losing_last_manager(user: dict[str, Any], managers: list[uuid.UUID]) -> None:
    if user["role"] == MANAGER and user["is_active"] and managers == [user["id"]]:
        raise Conflict(
            _("This is the last active manager. Make someone else a manager first."),
            field="role",
        )


async def update_staff(
    tenant: TenantRef, user_id: str, data: StaffPatchIn, actor: Actor
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if data.role is not None and (problem := role_error(data.role)):
        errors["role"] = problem
    if data.name is not None and (problem := name_error(data.name)):
        errors["name"] = problem
    if errors:
        raise Invalid(errors)
    async with tenant_scope(tenant):
        managers = await _lock_active_managers()
        user = await access_staff(user_id, lock="UPDATE")
        updates: dict[Any, Any] = {}
        if data.role is not None and data.role != user["role"]:
            if data.role != MANAGER:
                _refuse_losing_last_manager(user, managers)
            updates[StaffUser.role] = data.role
            await audit.record(
                actor,
                "staff.role_changed",
                "staff_user",
                user["id"],
                old=user["role"],
                new=data.role,
            )
        if data.name is not None and data.name.strip() != user["name"]:
            updates[StaffUser.name] = data.name.strip()
            await audit.record(actor, "staff.renamed", "staff_user", user["id"])
        if updates:
            await StaffUser.update(updates).where(StaffUser.id == user["id"])
        if StaffUser.role in updates:
            # Sessions cache the role: end them so the new role applies to the next request.
            await sessions.end_all(tenant, str(user["id"]))
        return await access_staff(user["id"])


async def deactivate(tenant: TenantRef, user_id: str, actor: Actor) -> dict[str, Any]:
    """Deactivate a user and end all their sessions at once; doing it twice changes nothing."""
    async with tenant_scope(tenant):
        managers = await _lock_active_managers()
        user = await access_staff(user_id, lock="UPDATE")
        if user["is_active"]:
            _refuse_losing_last_manager(user, managers)
            await StaffUser.update({StaffUser.is_active: False}).where(StaffUser.id == user["id"])
            await audit.record(actor, "staff.deactivated", "staff_user", user["id"])
        await sessions.end_all(tenant, str(user["id"]))
        return await access_staff(user["id"])


async def reactivate(tenant: TenantRef, user_id: str, actor: Actor) -> dict[str, Any]:
    async with tenant_scope(tenant):
        user = await access_staff(user_id, lock="UPDATE")
        if not user["is_active"]:
            await StaffUser.update({StaffUser.is_active: True}).where(StaffUser.id == user["id"])
            await audit.record(actor, "staff.reactivated", "staff_user", user["id"])
        return await access_staff(user["id"])
