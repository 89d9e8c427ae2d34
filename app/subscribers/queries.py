"""Reading subscribers: search, filters, stable pages, one subscriber, status history."""

from __future__ import annotations

import uuid

from app.core.i18n import _
from app.core.pagination import SqlFilter, decode_cursor, next_cursor
from app.core.problems import Invalid
from app.core.timeutil import iso
from app.plans.access import parse_id
from app.subscribers import status as st
from app.subscribers.access import access_subscriber
from app.subscribers.actions import subscriber_out
from app.subscribers.mac import mac_fragment
from app.subscribers.schemas import StatusChangeOut, SubscriberOut
from app.subscribers.tables import SubscriberStatusChange
from tenants.registry import TenantRef
from tenants.scope import tenant_scope


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_subscribers(
    tenant: TenantRef,
    *,
    q: str | None = None,
    status: str | None = None,
    plan_id: str | None = None,
    site_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[SubscriberOut], str | None]:
    """By name (case-insensitive), then id; the cursor is the last row's pair."""
    query = SqlFilter()

    errors: dict[str, str] = {}
    if q:
        text = q.strip()[:200]
        like = query.arg(_like(text))
        matches = [f"name ILIKE {like}", f"email ILIKE {like}", f"phone ILIKE {like}"]
        fragment = mac_fragment(text)
        if fragment:
            matches.append(f"cpe_mac LIKE {query.arg(_like(fragment))}")
        query.where("(" + " OR ".join(matches) + ")")
    if status is not None:
        if status not in st.STATUSES:
            errors["status"] = _("This is not a subscriber status.")
        query.where(f"status = {query.arg(status)}")
    for name, column, value in (("plan_id", "plan", plan_id), ("site_id", "site", site_id)):
        if value is not None:
            parsed = parse_id(value)
            if parsed is None:
                errors[name] = _("This is not a valid id.")
            query.where(f"{column} = {query.arg(parsed)}")
    if cursor:
        after_name, after_id = decode_cursor(cursor, str, uuid.UUID)
        query.where(f"(lower(name), id) > ({query.arg(after_name)}, {query.arg(after_id)})")
    if errors:
        raise Invalid(errors)
    sql = f"SELECT * FROM subscriber {query.sql} ORDER BY lower(name), id LIMIT {query.arg(limit)}"
    async with tenant_scope(tenant) as scope:
        rows = await scope.connection.fetch(sql, *query.args)
    items = [subscriber_out(r) for r in rows]
    return items, next_cursor(rows, limit, lambda r: (r["name"].lower(), r["id"]))


async def get_subscriber(tenant: TenantRef, subscriber_id: str) -> SubscriberOut:
    async with tenant_scope(tenant):
        return subscriber_out(await access_subscriber(subscriber_id))


async def status_history(tenant: TenantRef, subscriber_id: str) -> list[StatusChangeOut]:
    async with tenant_scope(tenant):
        row = await access_subscriber(subscriber_id)
        rows = (
            await SubscriberStatusChange.select()
            .where(SubscriberStatusChange.subscriber == row["id"])
            .order_by(SubscriberStatusChange.recorded_at)
            .order_by(SubscriberStatusChange.id)
        )
    return [
        StatusChangeOut(
            id=str(r["id"]),
            from_status=r["from_status"],
            to_status=r["to_status"],
            reason=r["reason"],
            note=r["note"],
            actor_type=r["actor_type"],
            actor_id=str(r["actor_id"]) if r["actor_id"] else None,
            actor_label=r["actor_label"],
            occurred_at=iso(r["occurred_at"]),
            recorded_at=iso(r["recorded_at"]),
        )
        for r in rows
    ]
