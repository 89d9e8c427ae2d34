"""Reading the audit log: newest first, filtered, paged by an opaque cursor.

The order (occurred_at desc, id desc) is total, so a cursor made of the last row's pair never
skips or repeats a row, even when many events share a timestamp.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from app.core import audit
from app.core.audit import AuditEvent
from app.core.i18n import _
from app.core.pagination import decode_cursor, encode_cursor
from app.core.problems import Invalid
from app.core.redis import get_redis, key
from app.core.timeutil import iso
from app.identity.schemas import AuditEventOut
from tenants.context import actor_of
from tenants.registry import TenantRef
from tenants.scope import tenant_scope


@dataclass(frozen=True, slots=True)
class Filters:
    actor_id: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None
    cursor: str | None = None


def parse_time(value: str, field: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid({field: _("Use an ISO 8601 time such as 2025-01-31T08:00:00Z.")}) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def event_out(row: dict[str, Any]) -> AuditEventOut:
    return AuditEventOut(
        id=str(row["id"]),
        occurred_at=iso(row["occurred_at"]),
        actor_type=row["actor_type"],
        actor_id=str(row["actor_id"]) if row["actor_id"] else None,
        actor_label=row["actor_label"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        data=row["data"] if isinstance(row["data"], dict) else {},
        ip=row["ip"],
        request_id=row["request_id"],
    )


async def query(
    tenant: TenantRef, filters: Filters, limit: int
) -> tuple[list[AuditEventOut], str | None]:
    conditions: list[Any] = []
    if filters.actor_id:
        try:
            conditions.append(AuditEvent.actor_id == uuid.UUID(filters.actor_id))
        except ValueError:
            raise Invalid({"actor_id": _("Use the id of a user or token.")}) from None
    if filters.action:
        conditions.append(AuditEvent.action.like(_like_prefix(filters.action)))
    if filters.since:
        conditions.append(AuditEvent.occurred_at >= parse_time(filters.since, "since"))
    if filters.until:
        conditions.append(AuditEvent.occurred_at < parse_time(filters.until, "until"))
    if filters.cursor:
        at, event_id = decode_cursor(filters.cursor, dt.datetime.fromisoformat, uuid.UUID)
        conditions.append(
            (AuditEvent.occurred_at < at)
            | ((AuditEvent.occurred_at == at) & (AuditEvent.id < event_id))
        )
    async with tenant_scope(tenant):
        select = AuditEvent.select().output(load_json=True)
        for condition in conditions:
            select = select.where(condition)
        rows = (
            await select.order_by(AuditEvent.occurred_at, ascending=False)
            .order_by(AuditEvent.id, ascending=False)
            .limit(limit + 1)
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return [event_out(r) for r in rows], encode_cursor(
        rows[-1]["occurred_at"], rows[-1]["id"]
    ) if more else None


DENIED_EVERY = 60


async def record_denied(connection: ASGIConnection[Any, Any, Any, Any], principal: Any) -> None:
    """Audit a signed-in principal refused by the role table (once a minute per route, so a
    looping client cannot flood a log that can never be pruned)."""
    tenant = connection.scope.get("state", {}).get("tenant")
    if not isinstance(tenant, TenantRef):
        return
    route = f"{connection.scope.get('method')} {connection.scope.get('path_template')}"
    digest = hashlib.sha256(route.encode()).hexdigest()[:16]
    claim = key(tenant.id, "denied", principal.user_id, digest)
    if not await get_redis().set(claim, "1", nx=True, ex=DENIED_EVERY):
        return
    async with tenant_scope(tenant):
        await audit.record(
            actor_of(connection),
            "access.denied",
            "route",
            "",
            route=route[:200],
            role=principal.role,
        )
