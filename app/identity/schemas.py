from __future__ import annotations

import msgspec


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


class TenantOut(msgspec.Struct):
    slug: str
    name: str


class MeOut(msgspec.Struct):
    id: str
    email: str
    name: str
    role: str
    language: str
    tenant: TenantOut


class StaffOut(msgspec.Struct):
    id: str
    email: str
    name: str
    role: str
    is_active: bool
    created_at: str
    last_login_at: str | None


class Page(msgspec.Struct):
    items: list[StaffOut]
    next_cursor: str | None
