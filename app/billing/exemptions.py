"""A manager may keep a subscriber from automatic suspension until a date."""

from __future__ import annotations

import datetime as dt
import uuid

from app.core import audit
from app.core.audit import Actor
from app.subscribers.access import access_subscriber
from tenants.registry import TenantRef
from tenants.scope import tenant_scope


async def exempt(
    tenant: TenantRef, subscriber_id: uuid.UUID, until: dt.date, reason: str, actor: Actor
) -> None:
    async with tenant_scope(tenant) as scope:
        await access_subscriber(subscriber_id)
        await scope.connection.execute(
            "INSERT INTO suspension_exemption (id, subscriber_id, until, reason, created_by,"
            " created_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, now())"
            " ON CONFLICT (subscriber_id) DO UPDATE SET until = $2, reason = $3,"
            " created_by = $4, created_at = now()",
            subscriber_id,
            until,
            reason.strip()[:500],
            actor.id,
        )
        await audit.record(
            actor,
            "subscriber.suspension_exempted",
            "subscriber",
            subscriber_id,
            until=until.isoformat(),
            reason=reason.strip()[:500],
        )
