from __future__ import annotations

import msgspec

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class SubscriberIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    email: str
    plan_id: str
    phone: str = ""
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    language: str | None = None
    site_id: str | None = None
    external_id: str | None = None
    """The subscriber's id in the system the WISP migrates from (CSV import matches on it)."""
    notes: str = ""
    """Goes on the installation work order."""


class SubscriberPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | Unset = UNSET
    email: str | Unset = UNSET
    phone: str | Unset = UNSET
    address: str | Unset = UNSET
    latitude: float | Unset | None = UNSET
    longitude: float | Unset | None = UNSET
    language: str | Unset | None = UNSET
    site_id: str | Unset | None = UNSET
    external_id: str | Unset | None = UNSET


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


class SuspendIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    """`non_payment`, `admin` or `data_cap`."""
    note: str = ""
    occurred_at: str | None = None


class ResumeIn(msgspec.Struct, forbid_unknown_fields=True):
    note: str = ""
    occurred_at: str | None = None


class CancelSubscriberIn(msgspec.Struct, forbid_unknown_fields=True):
    note: str = ""
    occurred_at: str | None = None


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


class PlanChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    plan_id: str
    effective_date: str | None = None
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
