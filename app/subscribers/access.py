"""Reaching subscribers inside the tenant scope: "not found" for missing and foreign ids."""

from __future__ import annotations

from typing import Any

from app.core.i18n import _
from app.core.problems import NotFound
from app.plans.access import parse_id
from app.subscribers.tables import Subscriber


async def access_subscriber(subscriber_id: object, *, for_update: bool = False) -> dict[str, Any]:
    sid = parse_id(subscriber_id)
    row: dict[str, Any] | None = None
    if sid is not None:
        query = Subscriber.select().where(Subscriber.id == sid)
        if for_update:
            query = query.lock_rows()
        row = await query.first()
    if row is None:
        raise NotFound(_("No such subscriber."))
    return row


def normalise_email(email: str) -> str:
    return email.strip().lower()
