from __future__ import annotations

import msgspec

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class SiteIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    kind: str = "tower"
    """`tower` or `noc`."""
    latitude: float | None = None
    longitude: float | None = None
    address: str = ""
    notes: str = ""


class SitePatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | Unset = UNSET
    kind: str | Unset = UNSET
    latitude: float | Unset | None = UNSET
    longitude: float | Unset | None = UNSET
    address: str | Unset = UNSET
    notes: str | Unset = UNSET


class SiteOut(msgspec.Struct):
    id: str
    name: str
    kind: str
    latitude: float | None
    longitude: float | None
    address: str
    notes: str
    created_at: str
    updated_at: str


class SitePage(msgspec.Struct):
    items: list[SiteOut]


class AccessPointIn(msgspec.Struct, forbid_unknown_fields=True):
    site_id: str
    name: str
    frequency_mhz: int
    ssid: str = ""


class AccessPointPatch(msgspec.Struct, forbid_unknown_fields=True):
    site_id: str | Unset = UNSET
    name: str | Unset = UNSET
    frequency_mhz: int | Unset = UNSET
    ssid: str | Unset = UNSET


class AccessPointOut(msgspec.Struct):
    id: str
    site_id: str
    name: str
    frequency_mhz: int
    ssid: str
    created_at: str
    updated_at: str


class AccessPointPage(msgspec.Struct):
    items: list[AccessPointOut]
