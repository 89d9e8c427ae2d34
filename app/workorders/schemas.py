from __future__ import annotations

import msgspec


class WorkOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    subscriber_id: str
    kind: str
    """`repair`, `maintenance` or `removal` (an installation comes with a new subscriber, or
    again for a pending subscriber whose first one was cancelled)."""
    description: str = ""


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    install_date: str
    """ISO date of the visit."""
    technician_id: str | None = None
    occurred_at: str | None = None


class StepIn(msgspec.Struct, forbid_unknown_fields=True):
    """start and activate: only when it happened."""

    occurred_at: str | None = None


class AuthenticateCpeIn(msgspec.Struct, forbid_unknown_fields=True):
    cpe_mac: str
    access_point_id: str | None = None
    occurred_at: str | None = None


class SignOffIn(msgspec.Struct, forbid_unknown_fields=True):
    signed_by: str
    signature: str | None = None
    """The signature drawn on the phone, as a `data:image/png;base64,...` URL."""
    occurred_at: str | None = None


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""
    occurred_at: str | None = None


class WorkOrderOut(msgspec.Struct):
    id: str
    subscriber_id: str
    kind: str
    status: str
    technician_id: str | None
    install_date: str | None
    description: str
    cpe_mac: str | None
    access_point_id: str | None
    scheduled_at: str | None
    started_at: str | None
    cpe_authenticated_at: str | None
    activated_at: str | None
    signed_off_at: str | None
    signed_by: str
    has_signature: bool
    cancelled_at: str | None
    cancel_reason: str
    created_at: str
    updated_at: str


class WorkOrderPage(msgspec.Struct):
    items: list[WorkOrderOut]
    next_cursor: str | None


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    body: str
    occurred_at: str | None = None


class NoteOut(msgspec.Struct):
    id: str
    work_order_id: str
    body: str
    author_id: str | None
    author_label: str
    occurred_at: str
    created_at: str


class NotePage(msgspec.Struct):
    items: list[NoteOut]


class PhotoOut(msgspec.Struct):
    id: str
    work_order_id: str
    content_type: str
    size_bytes: int
    sha256: str
    caption: str
    uploaded_by: str | None
    created_at: str
    url: str


class PhotoPage(msgspec.Struct):
    items: list[PhotoOut]
