from __future__ import annotations

from piccolo.columns import (
    UUID,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.identity.tables import StaffUser
from app.network.tables import AccessPoint
from app.subscribers.tables import Subscriber


class WorkOrder(Table, tablename="work_order"):
    """The `*_at` times are when a step really happened (the offline app sends them)."""

    id = UUID(primary_key=True)
    subscriber = ForeignKey(Subscriber, on_delete=OnDelete.restrict, index=True)
    kind = Varchar(length=20)
    status = Varchar(length=20, index=True)
    technician = ForeignKey(StaffUser, null=True, default=None, on_delete=OnDelete.restrict)
    install_date = Date(null=True, default=None)
    description = Text(default="")
    cpe_mac = Varchar(length=17, null=True, default=None)
    access_point = ForeignKey(AccessPoint, null=True, default=None, on_delete=OnDelete.restrict)
    scheduled_at = Timestamptz(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    cpe_authenticated_at = Timestamptz(null=True, default=None)
    activated_at = Timestamptz(null=True, default=None)
    signed_off_at = Timestamptz(null=True, default=None)
    signed_by = Varchar(length=200, default="")
    signature = Text(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)
    cancel_reason = Varchar(length=500, default="")
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class WorkOrderTransition(Table, tablename="work_order_transition"):
    id = UUID(primary_key=True)
    work_order = ForeignKey(WorkOrder, on_delete=OnDelete.restrict, index=True)
    from_status = Varchar(length=20)
    to_status = Varchar(length=20)
    occurred_at = Timestamptz()
    recorded_at = Timestamptz()
    actor_type = Varchar(length=20)
    actor_id = UUID(null=True, default=None)
    actor_label = Varchar(length=320, default="")


class WorkOrderNote(Table, tablename="work_order_note"):
    id = UUID(primary_key=True)
    work_order = ForeignKey(WorkOrder, on_delete=OnDelete.restrict, index=True)
    body = Text()
    author_id = UUID(null=True, default=None)
    author_label = Varchar(length=320, default="")
    occurred_at = Timestamptz()
    created_at = Timestamptz()


class WorkOrderPhoto(Table, tablename="work_order_photo"):
    """The file lives under MEDIA_DIR/{tenant id}/work-orders/{work order id}/{id}.{ext}."""

    id = UUID(primary_key=True)
    work_order = ForeignKey(WorkOrder, on_delete=OnDelete.restrict, index=True)
    content_type = Varchar(length=20)
    size_bytes = Integer()
    sha256 = Varchar(length=64)
    caption = Varchar(length=300, default="")
    uploaded_by = UUID(null=True, default=None)
    uploaded_by_label = Varchar(length=320, default="")
    created_at = Timestamptz()


DDL = (
    "CREATE INDEX work_order_newest ON work_order (created_at DESC, id DESC)",
    "CREATE INDEX work_order_technician ON work_order (technician)",
    "ALTER TABLE work_order ADD CONSTRAINT work_order_status_valid CHECK (status::text IN"
    " ('open', 'scheduled', 'in_progress', 'cpe_authenticated', 'activated', 'signed_off',"
    " 'cancelled'))",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
