from __future__ import annotations

from typing import Annotated

import msgspec

from app.core.inputs import Code, Id, Input, Kbps, Latitude, Line, Longitude, Name, Note

Ssid = Annotated[str, msgspec.Meta(max_length=32)]
"""At most 32 bytes in UTF-8 (the action counts the bytes)."""

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class SiteIn(Input, forbid_unknown_fields=True):
    name: Name
    kind: Code = "tower"
    """`tower` or `noc`."""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    address: Line = ""
    notes: Note = ""


class SitePatch(Input, forbid_unknown_fields=True):
    name: Name | Unset = UNSET
    kind: Code | Unset = UNSET
    latitude: Latitude | Unset | None = UNSET
    longitude: Longitude | Unset | None = UNSET
    address: Line | Unset = UNSET
    notes: Note | Unset = UNSET


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


class AccessPointIn(Input, forbid_unknown_fields=True):
    site_id: Id
    name: Name
    frequency_mhz: Kbps
    ssid: Ssid = ""


class AccessPointPatch(Input, forbid_unknown_fields=True):
    site_id: Id | Unset = UNSET
    name: Name | Unset = UNSET
    frequency_mhz: Kbps | Unset = UNSET
    ssid: Ssid | Unset = UNSET


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
