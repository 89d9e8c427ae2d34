"""The subscriber's CPE radio: recorded when a technician authenticates it, released when an
unfinished installation is cancelled. Work orders change a subscriber's CPE through here."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from app.core.i18n import _
from app.core.problems import Conflict
from app.core.timeutil import now
from app.subscribers import status as st
from app.subscribers.access import access_subscriber
from app.subscribers.tables import Subscriber


def _mac_taken() -> Conflict:
    return Conflict(_("Another subscriber already uses this MAC address."), field="cpe_mac")


async def record_cpe(
    subscriber: dict[str, Any],
    mac: str,
    access_point: dict[str, Any] | None,
    occurred_at: dt.datetime,
) -> None:
    """The CPE with this MAC serves the subscriber (through `access_point`, whose site becomes
    the subscriber's). A subscriber the network knows is enforced again with the new MAC."""
    taken = await Subscriber.exists().where(
        Subscriber.cpe_mac == mac,
        Subscriber.id != subscriber["id"],
        Subscriber.status.is_in(list(st.LIVE)),
    )
    if taken:
        raise _mac_taken()
    place: dict[Any, Any] = {}
    if access_point is not None:
        place = {"access_point": access_point["id"], "site": access_point["site"]}
    try:
        await Subscriber.update(
            {"cpe_mac": mac, "cpe_authenticated_at": occurred_at, "updated_at": now(), **place}
        ).where(Subscriber.id == subscriber["id"])
    except asyncpg.UniqueViolationError:
        # A concurrent request took the MAC between our check and our write.
        raise _mac_taken() from None
    if subscriber["status"] in st.KNOWN_TO_NETWORK:
        await st.enforce(await access_subscriber(subscriber["id"]), occurred_at)


async def release_cpe(subscriber: dict[str, Any]) -> None:
    """An installation that never activated gives its CPE back: the MAC is free again, and the
    next installation must authenticate its own."""
    if subscriber["status"] != st.PENDING:
        return
    await Subscriber.update(
        {
            Subscriber.cpe_mac: None,
            Subscriber.cpe_authenticated_at: None,
            Subscriber.access_point: None,
            Subscriber.updated_at: now(),
        }
    ).where(Subscriber.id == subscriber["id"])
