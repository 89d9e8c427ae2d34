from __future__ import annotations

import msgspec

from app.core.inputs import Code, Input, Kbps, Name, Price, Rate

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class PlanIn(Input, forbid_unknown_fields=True):
    name: Name
    download_kbps: Kbps
    upload_kbps: Kbps
    monthly_price: Price
    """A decimal string in the tenant's currency, e.g. "15.00"; a JSON number is refused."""
    setup_fee: Price | None = None
    tax_rate: Rate | None = None
    """Percent, e.g. "16.00"."""
    data_cap_gb: Kbps | None = None
    cap_action: Code | None = None
    """`block` or `throttle`, required with a data cap."""
    throttle_download_kbps: Kbps | None = None
    throttle_upload_kbps: Kbps | None = None


class PlanPatch(Input, forbid_unknown_fields=True):
    name: Name | Unset = UNSET
    download_kbps: Kbps | Unset = UNSET
    upload_kbps: Kbps | Unset = UNSET
    monthly_price: Price | Unset = UNSET
    setup_fee: Price | Unset | None = UNSET
    tax_rate: Rate | Unset | None = UNSET
    data_cap_gb: Kbps | Unset | None = UNSET
    cap_action: Code | Unset | None = UNSET
    throttle_download_kbps: Kbps | Unset | None = UNSET
    throttle_upload_kbps: Kbps | Unset | None = UNSET


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
