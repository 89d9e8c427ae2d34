from __future__ import annotations

from typing import Annotated

import msgspec

from app.core.inputs import MULTILINE, Code, Id, Input, Moment, Note, PersonName, Reason

Mac = Annotated[str, msgspec.Meta(max_length=40)]
Signature = Annotated[str, msgspec.Meta(max_length=300_000)]
"""A `data:image/png;base64,...` URL (MAX_SIGNATURE in the action)."""
NoteBody = Annotated[str, msgspec.Meta(max_length=10_000, extra={MULTILINE: True})]


class WorkOrderIn(Input, forbid_unknown_fields=True):
    subscriber_id: Id
    kind: Code
    """`repair`, `maintenance` or `removal` (an installation comes with a new subscriber, or
    again for a pending subscriber whose first one was cancelled)."""
    description: Note = ""


class ScheduleIn(Input, forbid_unknown_fields=True):
    install_date: Moment
    """ISO date of the visit."""
    technician_id: Id | None = None
    occurred_at: Moment | None = None


class StepIn(Input, forbid_unknown_fields=True):
    """start and activate: only when it happened."""

    occurred_at: Moment | None = None


class AuthenticateCpeIn(Input, forbid_unknown_fields=True):
    cpe_mac: Mac
    access_point_id: Id | None = None
    occurred_at: Moment | None = None


class SignOffIn(Input, forbid_unknown_fields=True):
    signed_by: PersonName
    signature: Signature | None = None
    """The signature drawn on the phone, as a `data:image/png;base64,...` URL."""
    occurred_at: Moment | None = None


class CancelIn(Input, forbid_unknown_fields=True):
    reason: Reason = ""
    occurred_at: Moment | None = None


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


class NoteIn(Input, forbid_unknown_fields=True):
    body: NoteBody
    occurred_at: Moment | None = None


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
