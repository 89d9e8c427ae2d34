"""Reaching rate plans inside the tenant scope: "not found" for missing and foreign ids."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from app.core.i18n import _
from app.core.problems import NotFound
from app.plans.tables import RatePlan

LockStrength = Literal["UPDATE", "NO KEY UPDATE"]


def parse_id(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def access_plan(
    plan_id: object, *, for_update: bool = False, strength: LockStrength = "UPDATE"
) -> dict[str, Any]:
    pid = parse_id(plan_id)
    row: dict[str, Any] | None = None
    if pid is not None:
        query = RatePlan.select().where(RatePlan.id == pid)
        if for_update:
            query = query.lock_rows(strength)
        row = await query.first()
    if row is None:
        raise NotFound(_("No such rate plan."))
    return row


async def plans_by_name() -> dict[str, Any]:
    """Plans that can be chosen (not archived), by lower-case name: for imports."""
    rows = await RatePlan.select(RatePlan.id, RatePlan.name).where(RatePlan.archived_at.is_null())
    return {r["name"].lower(): r["id"] for r in rows}
