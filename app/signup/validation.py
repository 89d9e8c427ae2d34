"""Every rule a signup must meet, each failure naming its field in the user's language."""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path

from babel.numbers import list_currencies
from email_validator import EmailNotValidError, validate_email

from app.core.i18n import LANGUAGES, _
from app.identity.passwords import password_problem
from app.signup.schemas import SignupIn

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")

RESERVED_SLUGS = frozenset(
    line.strip()
    for line in (Path(__file__).with_name("reserved_slugs.txt")).read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def normalise(data: SignupIn) -> SignupIn:
    return SignupIn(
        company_name=data.company_name.strip(),
        slug=data.slug.strip(),
        email=data.email.strip().lower(),
        password=data.password,
        language=data.language.strip().lower(),
        currency=data.currency.strip().upper(),
        timezone=data.timezone.strip(),
    )


def signup_errors(data: SignupIn) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not 2 <= len(data.company_name) <= 200:
        errors["company_name"] = _("Enter the company name (2 to 200 characters).")
    if not SLUG_RE.match(data.slug) or "--" in data.slug:
        errors["slug"] = _(
            "Use 3 to 40 lowercase letters, digits and single hyphens, starting and ending "
            "with a letter or digit."
        )
    elif data.slug in RESERVED_SLUGS:
        errors["slug"] = _("This address is reserved. Choose another one.")
    try:
        validate_email(data.email, check_deliverability=False)
    except EmailNotValidError:
        errors["email"] = _("Enter a valid email address.")
    if problem := password_problem(data.password, data.email, data.company_name, data.slug):
        errors["password"] = problem
    if data.language not in LANGUAGES:
        errors["language"] = _("Choose English (en) or Spanish (es).")
    if data.currency not in list_currencies():
        errors["currency"] = _("Use an ISO 4217 currency code such as USD or EUR.")
    if not _valid_timezone(data.timezone):
        errors["timezone"] = _("Use an IANA time zone such as America/Mexico_City.")
    return errors


def _valid_timezone(name: str) -> bool:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
