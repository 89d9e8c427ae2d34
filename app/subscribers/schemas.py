from __future__ import annotations

from typing import Annotated

import msgspec

from app.core.inputs import (
    Code,
    Email,
    Id,
    Input,
    Latitude,
    Line,
    Longitude,
    Moment,
    Note,
    PersonName,
    ShortNote,
)

Phone = Annotated[str, msgspec.Meta(max_length=40)]
ExternalId = Annotated[str, msgspec.Meta(max_length=100)]

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class SubscriberIn(Input, forbid_unknown_fields=True):
    name: PersonName
    email: Email
    plan_id: Id
    phone: Phone = ""
    address: Line = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    language: Code | None = None
    site_id: Id | None = None
    external_id: ExternalId | None = None
    """The subscriber's id in the system the WISP migrates from (CSV import matches on it)."""
    notes: Note = ""
    """Goes on the installation work order."""


class SubscriberPatch(Input, forbid_unknown_fields=True):
    name: PersonName | Unset = UNSET
    email: Email | Unset = UNSET
    phone: Phone | Unset = UNSET
    address: Line | Unset = UNSET
    latitude: Latitude | Unset | None = UNSET
    longitude: Longitude | Unset | None = UNSET
    language: Code | Unset | None = UNSET
    site_id: Id | Unset | None = UNSET
    external_id: ExternalId | Unset | None = UNSET


class SubscriberOut(msgspec.Struct):
    id: str
    name: str
    email: str
    phone: str
    address: str
    latitude: float | None
    longitude: float | None
    language: str | None
    plan_id: str
    site_id: str | None
    access_point_id: str | None
    cpe_mac: str | None
    status: str
    suspension_reason: str | None
    billing_start_date: str | None
    activated_at: str | None
    cancelled_at: str | None
    external_id: str | None
    created_at: str
    updated_at: str


class SubscriberCreatedOut(SubscriberOut):
    installation_work_order_id: str


class SubscriberPage(msgspec.Struct):
    items: list[SubscriberOut]
    next_cursor: str | None


class SuspendIn(Input, forbid_unknown_fields=True):
    reason: Code
    """`non_payment`, `admin` or `data_cap`."""
    note: ShortNote = ""
    occurred_at: Moment | None = None


class ResumeIn(Input, forbid_unknown_fields=True):
    note: ShortNote = ""
    occurred_at: Moment | None = None


class CancelSubscriberIn(Input, forbid_unknown_fields=True):
    note: ShortNote = ""
    occurred_at: Moment | None = None


class StatusChangeOut(msgspec.Struct):
    id: str
    from_status: str | None
    to_status: str
    reason: str | None
    note: str
    actor_type: str
    actor_id: str | None
    actor_label: str
    occurred_at: str
    recorded_at: str


class StatusHistory(msgspec.Struct):
    items: list[StatusChangeOut]


class PlanChangeIn(Input, forbid_unknown_fields=True):
    plan_id: Id
    effective_date: Moment | None = None
    """ISO date in the tenant's time zone; today (or earlier) applies at once. Default: today."""


class PlanChangeOut(msgspec.Struct):
    id: str
    subscriber_id: str
    from_plan_id: str
    to_plan_id: str
    effective_date: str
    created_by: str | None
    created_at: str
    applied_at: str | None
    cancelled_at: str | None


class PlanChangePage(msgspec.Struct):
    items: list[PlanChangeOut]
