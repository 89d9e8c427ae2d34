from __future__ import annotations

import msgspec

from app.core.inputs import Code, Email, Input, PersonName, Secret


class SignupIn(Input, forbid_unknown_fields=True):
    company_name: PersonName
    slug: Code
    email: Email
    password: Secret
    language: Code = "en"
    currency: Code = "USD"
    timezone: Code = "UTC"


class SignupOut(msgspec.Struct):
    slug: str
    portal_url: str
    email_confirmed: bool
    """False until the owner follows the link in the welcome mail (`{portal_url}/confirm/…`)."""


class ConfirmIn(Input, forbid_unknown_fields=True):
    token: Secret


class ConfirmOut(msgspec.Struct):
    email_confirmed: bool
