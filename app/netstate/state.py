"""The write side and the read side of the desired-state log.

Versions come from a one-row counter bumped with `UPDATE ... RETURNING` (as an upsert, because a
tenant schema cloned from the template starts without rows) inside the writing transaction. The
row lock is held until commit, so the next version cannot be handed out before the previous one
is committed: a gateway that has seen version N can never later find a change numbered below N.
A sequence would not give that (its numbers are handed out outside the transaction order).
The counter, not the log's highest version, is "the version": `mint` hands out a version with
no entry when what a gateway holds changes without any subscriber's state changing (its sites).

Each entry carries the site the subscriber is behind (`site`) and where the network held it
just before (`previous_site`), so a delta can be computed per gateway from the log alone: a
gateway serving `site` gets the entry, one serving only `previous_site` is told to forget the
subscriber. A site move is recorded like any other change (`follow`).
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

VERSION = "SELECT coalesce(max(version), 0) FROM netstate_version"
"""The current version (one row, or none before the first change)."""

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
    site: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class NetState:
    version: int
    """Every change up to this version is in `entries` (or was before `since`)."""
    entries: list[NetEntry]


def channel(tenant_id: object) -> str:
    """The Redis channel a long-polling gateway of this tenant listens on."""
    return key(tenant_id, "netstate")


def desired(
    subscriber: Mapping[str, Any], plan: Mapping[str, Any], site: uuid.UUID | None = None
) -> dict[str, Any]:
    """What the network must enforce for this subscriber as it stands, and where."""
    status = subscriber["status"]
    return {
        "mac": subscriber["cpe_mac"],
        "enabled": status == "active",
        "reason": subscriber["suspension_reason"] if status == "suspended" else None,
        "download_kbps": int(plan["download_kbps"]),
        "upload_kbps": int(plan["upload_kbps"]),
        "site": site,
    }


def held(state: Mapping[str, Any]) -> bool:
    """Whether a gateway serving the entry's site holds the subscriber at all: an entry with
    no MAC, or disabled with no reason (cancelled), is a removal."""
    return state["mac"] is not None and bool(state["enabled"] or state["reason"] is not None)


async def site_of(subscriber: Mapping[str, Any]) -> uuid.UUID | None:
    """The site a subscriber is behind: its own, else its access point's."""
    site: uuid.UUID | None = subscriber.get("site")
    if site is None and subscriber.get("access_point") is not None:
        site = await current_scope().connection.fetchval(
            "SELECT site FROM access_point WHERE id = $1", subscriber["access_point"]
        )
    return site


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

    `subscriber` is the row as it is *after* the change (status, suspension_reason, cpe_mac,
    site, access_point), `plan` the plan whose speeds now apply. Returns the new version, or
    None when the state is what the log already says (so a job that runs twice records nothing
    the second time), or when the network never held the subscriber and must not hold it now.
    """
    scope = current_scope()
    conn = scope.connection
    state = desired(subscriber, plan, await site_of(subscriber))
    last = await conn.fetchrow(
        "SELECT mac, enabled, reason, download_kbps, upload_kbps, site FROM netstate_change"
        " WHERE subscriber_id = $1 ORDER BY version DESC LIMIT 1",
        subscriber["id"],
    )
    if last is None and not held(state):
        return None  # never known to the network, and nothing to enforce
    if last is not None and (dict(last) == state or not (held(last) or held(state))):
        return None  # already said, or already forgotten (a cancelled subscriber moved)
    previous_site = last["site"] if last is not None and held(last) else None
    version = int(await conn.fetchval(_NEXT_VERSION, _COUNTER_ID))
    await conn.execute(
        "INSERT INTO netstate_change (id, version, subscriber_id, mac, enabled, reason,"
        " download_kbps, upload_kbps, occurred_at, site, previous_site)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        uuid.uuid4(),
        version,
        subscriber["id"],
        state["mac"],
        state["enabled"],
        state["reason"],
        state["download_kbps"],
        state["upload_kbps"],
        occurred_at or now(),
        state["site"],
        previous_site,
    )
    _publish(scope, version)
    return version


async def follow(subscriber_ids: list[uuid.UUID], occurred_at: dt.datetime | None = None) -> int:
    """Record again the desired state of subscribers whose place changed (a site move, an
    access point moved to another site): the state now names the new site, so the new site's
    gateways take the subscriber and the old site's forget it. The caller holds the rows'
    locks. Returns how many entries were written."""
    conn = current_scope().connection
    rows = await conn.fetch(
        "SELECT s.id, s.status, s.suspension_reason, s.cpe_mac, s.site, s.access_point,"
        " p.download_kbps, p.upload_kbps FROM subscriber s JOIN rate_plan p ON p.id = s.plan"
        " WHERE s.id = ANY($1::uuid[]) ORDER BY s.id",
        subscriber_ids,
    )
    written = 0
    for row in rows:
        if await record(row, row, occurred_at) is not None:
            written += 1
    return written


async def mint() -> int:
    """A new version with no entry, inside the caller's scope: for a change of what gateways
    hold that changes no subscriber's state (a gateway's sites). Gateways are woken."""
    scope = current_scope()
    version = int(await scope.connection.fetchval(_NEXT_VERSION, _COUNTER_ID))
    _publish(scope, version)
    return version


def _publish(scope: Scope, version: int) -> None:
    publisher = _publisher.get()
    if publisher is None or publisher.scope is not scope:
        publisher = _Publisher(scope)
        _publisher.set(publisher)
        scope.after_commit(publisher)
    publisher.version = version


async def current_state(since: int | None = None) -> NetState:
    """Each subscriber's latest desired entry (only those changed after `since`, if given).

    Call inside the tenant scope. The version is read first and the entries are capped at it,
    so a change committed between the two statements is left for the next fetch, never skipped.
    """
    conn = current_scope().connection
    version = int(await conn.fetchval(VERSION))
    floor = since or 0
    if floor >= version:
        return NetState(version=version, entries=[])
    rows = await conn.fetch(
        "SELECT DISTINCT ON (subscriber_id) version, subscriber_id, mac, enabled, reason,"
        " download_kbps, upload_kbps, occurred_at, site FROM netstate_change"
        " WHERE version > $1 AND version <= $2 ORDER BY subscriber_id, version DESC",
        floor,
        version,
    )
    return NetState(version=version, entries=[NetEntry(**dict(r)) for r in rows])
