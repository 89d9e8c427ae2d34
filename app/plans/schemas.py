from __future__ import annotations

import msgspec

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    download_kbps: int
    upload_kbps: int
    monthly_price: str
    """A decimal string in the tenant's currency, e.g. "15.00"; a JSON number is refused."""
    setup_fee: str | None = None
    tax_rate: str | None = None
    """Percent, e.g. "16.00"."""
    data_cap_gb: int | None = None
    cap_action: str | None = None
    """`block` or `throttle`, required with a data cap."""
    throttle_download_kbps: int | None = None
    throttle_upload_kbps: int | None = None


class PlanPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | Unset = UNSET
    download_kbps: int | Unset = UNSET
    upload_kbps: int | Unset = UNSET
    monthly_price: str | Unset = UNSET
    setup_fee: str | Unset | None = UNSET
    tax_rate: str | Unset | None = UNSET
    data_cap_gb: int | Unset | None = UNSET
    cap_action: str | Unset | None = UNSET
    throttle_download_kbps: int | Unset | None = UNSET
    throttle_upload_kbps: int | Unset | None = UNSET


class PlanOut(msgspec.Struct):
    id: str
    name: str
    download_kbps: int
    upload_kbps: int
    monthly_price: str
    currency: str
    setup_fee: str | None
    tax_rate: str | None
    data_cap_gb: int | None
    cap_action: str | None
    throttle_download_kbps: int | None
    throttle_upload_kbps: int | None
    archived: bool
    archived_at: str | None
    created_at: str
    updated_at: str


class PlanPage(msgspec.Struct):
    items: list[PlanOut]
