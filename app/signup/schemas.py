from __future__ import annotations

import msgspec


class SignupIn(msgspec.Struct, forbid_unknown_fields=True):
    company_name: str
    slug: str
    email: str
    password: str
    language: str = "en"
    currency: str = "USD"
    timezone: str = "UTC"


class SignupOut(msgspec.Struct):
    slug: str
    portal_url: str
    email_confirmed: bool
    """False until the owner follows the link in the welcome mail (`{portal_url}/confirm/…`)."""


class ConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class ConfirmOut(msgspec.Struct):
    email_confirmed: bool
