"""The write side and the read side of the desired-state log.

Versions come from a one-row counter bumped with `UPDATE ... RETURNING` (as an upsert, because a
tenant schema cloned from the template starts without rows) inside the writing transaction. The
row lock is held until commit, so the next version cannot be handed out before the previous one
is committed: a gateway that has seen version N can never later find a change numbered below N.
A sequence would not give that (its numbers are handed out outside the transaction order).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core.redis import get_redis, key
from app.core.timeutil import now
from tenants.scope import Scope, current_scope

log = logging.getLogger(__name__)

REASONS = ("non_payment", "admin", "data_cap")
"""Why a subscriber is cut off; the captive portal shows a page per reason."""

_COUNTER_ID = uuid.UUID(int=0)

_NEXT_VERSION = (
    "INSERT INTO netstate_version (id, version) VALUES ($1, 1)"
    " ON CONFLICT (id) DO UPDATE SET version = netstate_version.version + 1"
    " RETURNING version"
)


@dataclass(frozen=True, slots=True)
class NetEntry:
    version: int
    subscriber_id: uuid.UUID
    mac: str | None
    enabled: bool
    reason: str | None
    download_kbps: int
    upload_kbps: int
    occurred_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NetState:
    version: int
    """Every change up to this version is in `entries` (or was before `since`)."""
    entries: list[NetEntry]


def channel(tenant_id: object) -> str:
    """The Redis channel a long-polling gateway of this tenant listens on."""
    return key(tenant_id, "netstate")


def desired(subscriber: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
    """What the network must enforce for this subscriber as it stands."""
    status = subscriber["status"]
    return {
        "mac": subscriber["cpe_mac"],
        "enabled": status == "active",
        "reason": subscriber["suspension_reason"] if status == "suspended" else None,
        "download_kbps": int(plan["download_kbps"]),
        "upload_kbps": int(plan["upload_kbps"]),
    }


class _Publisher:
    """One notification per transaction, however many changes it recorded."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.version = 0

    async def __call__(self) -> None:
        try:
            await get_redis().publish(channel(self.scope.tenant.id), str(self.version))
        except Exception:
            # Gateways also poll on a timeout; a lost wake-up only delays them.
            log.warning("netstate notification failed", exc_info=True)


_publisher: contextvars.ContextVar[_Publisher | None] = contextvars.ContextVar(
    "wisp_netstate_publisher", default=None
)


async def record(
    subscriber: Mapping[str, Any],
    plan: Mapping[str, Any],
    occurred_at: dt.datetime | None = None,
) -> int | None:
    """Append the subscriber's desired state, inside the caller's tenant scope.

    `subscriber` is the row as it is *after* the change (status, suspension_reason, cpe_mac),
    `plan` the plan whose speeds now apply. Returns the new version, or None when the state is
    what the log already says (so a job that runs twice records nothing the second time).
    """
    scope = current_scope()
    conn = scope.connection
    state = desired(subscriber, plan)
    last = await conn.fetchrow(
        "SELECT mac, enabled, reason, download_kbps, upload_kbps FROM netstate_change"
        " WHERE subscriber_id = $1 ORDER BY version DESC LIMIT 1",
        subscriber["id"],
    )
    if last is not None and dict(last) == state:
        return None
    if last is None and not state["enabled"] and state["mac"] is None:
        return None  # never known to the network, and nothing to enforce
    version = int(await conn.fetchval(_NEXT_VERSION, _COUNTER_ID))
    await conn.execute(
        "INSERT INTO netstate_change (id, version, subscriber_id, mac, enabled, reason,"
        " download_kbps, upload_kbps, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        uuid.uuid4(),
        version,
        subscriber["id"],
        state["mac"],
        state["enabled"],
        state["reason"],
        state["download_kbps"],
        state["upload_kbps"],
        occurred_at or now(),
    )
    publisher = _publisher.get()
    if publisher is None or publisher.scope is not scope:
        publisher = _Publisher(scope)
        _publisher.set(publisher)
        scope.after_commit(publisher)
    publisher.version = version
    return version


async def current_state(since: int | None = None) -> NetState:
    """Each subscriber's latest desired entry (only those changed after `since`, if given).

    Call inside the tenant scope. The version is read first and the entries are capped at it,
    so a change committed between the two statements is left for the next fetch, never skipped.
    """
    conn = current_scope().connection
    version = int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM netstate_change"))
    floor = since or 0
    if floor >= version:
        return NetState(version=version, entries=[])
    rows = await conn.fetch(
        "SELECT DISTINCT ON (subscriber_id) version, subscriber_id, mac, enabled, reason,"
        " download_kbps, upload_kbps, occurred_at FROM netstate_change"
        " WHERE version > $1 AND version <= $2 ORDER BY subscriber_id, version DESC",
        floor,
        version,
    )
    return NetState(version=version, entries=[NetEntry(**dict(r)) for r in rows])
