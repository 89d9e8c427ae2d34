"""Reaching work orders inside the tenant scope: "not found" for missing and foreign ids."""

from __future__ import annotations

from typing import Any

from app.core.i18n import _
from app.core.problems import NotFound
from app.plans.access import parse_id
from app.workorders.tables import WorkOrder


async def access_work_order(work_order_id: object, *, for_update: bool = False) -> dict[str, Any]:
    wid = parse_id(work_order_id)
    row: dict[str, Any] | None = None
    if wid is not None:
        query = WorkOrder.select().where(WorkOrder.id == wid)
        if for_update:
            query = query.lock_rows()
        row = await query.first()
    if row is None:
        raise NotFound(_("No such work order."))
    return row
