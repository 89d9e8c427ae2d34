"""Reaching subscribers inside the tenant scope: "not found" for missing and foreign ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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


async def lock_subscribers(ids: Iterable[uuid.UUID]) -> None:
    """Lock several subscribers' rows before changing any of them, in id order: the one order
    every writer holding more than one subscriber uses. Changing a subscriber takes the
    desired-state counter until commit, so a writer that locked the next subscriber only
    after changing the previous one would wait for a row while holding the counter that
    the row's holder needs next (a deadlock)."""
    wanted = sorted(set(ids))
    if wanted:
        await (
            Subscriber.select(Subscriber.id)
            .where(Subscriber.id.is_in(wanted))
            .order_by(Subscriber.id)
            .lock_rows()
        )


def normalise_email(email: str) -> str:
    return email.strip().lower()
