"""The per-tenant audit log: one row per change, append-only in the database.

A trigger (created by the tenant migrations) refuses UPDATE, DELETE and TRUNCATE on the table,
so not even a bug in the application can rewrite history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from piccolo.columns import JSONB, UUID, Timestamptz, Varchar
from piccolo.table import Table


class AuditEvent(Table, tablename="audit_event"):
    id = UUID(primary_key=True)
    occurred_at = Timestamptz(index=True)
    actor_type = Varchar(length=20)
    actor_id = UUID(null=True, default=None)
    actor_label = Varchar(length=320, default="")
    action = Varchar(length=80, index=True)
    object_type = Varchar(length=40, default="")
    object_id = Varchar(length=64, default="")
    data = JSONB(default={})
    ip = Varchar(length=64, default="")
    request_id = Varchar(length=64, default="")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is doing a thing: a staff user, a subscriber, a gateway, the system."""

    type: str
    id: uuid.UUID | None = None
    label: str = ""
    ip: str = ""
    request_id: str = ""
    role: str = ""
    """The role it acts in (`app.core.roles`: a staff role or `subscriber`), so that actions can
    enforce role rules (escalations, approvals, bulk imports) in one place."""


SYSTEM = Actor(type="system", label="system")


def event_row(
    actor: Actor,
    action: str,
    object_type: str = "",
    object_id: object = "",
    **data: Any,
) -> AuditEvent:
    """The audit row `record` writes, not yet inserted (bulk paths insert many at once)."""
    return AuditEvent(
        occurred_at=dt.datetime.now(dt.UTC),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id else "",
        data=data,
        ip=actor.ip,
        request_id=actor.request_id,
    )


async def record(
    actor: Actor,
    action: str,
    object_type: str = "",
    object_id: object = "",
    **data: Any,
) -> None:
    """Append an audit row; call it inside the action's tenant scope."""
    await AuditEvent.insert(event_row(actor, action, object_type, object_id, **data))


DDL = (
    # The audit log is append-only, whatever the code path.
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event"
    " FOR EACH STATEMENT EXECUTE FUNCTION public.wisp_forbid_change()",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
