"""Money in the API: decimal strings in, decimal strings out, never a float on the way.

Amounts are stored as NUMERIC(12, 4) (four decimals leave room for per-unit prices and tax
arithmetic); they are shown with at least two decimals. Rounding to the currency's minor unit
happens where money is charged (billing), explicitly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from app.core.i18n import _

_AMOUNT = re.compile(r"^\d{1,8}(\.\d{1,4})?$")
_CENT = Decimal("0.01")


def parse_amount(value: str, errors: dict[str, str], field: str) -> Decimal | None:
    """A non-negative amount with up to 8 digits and 4 decimals, or an error under `field`."""
    text = value.strip()
    if not _AMOUNT.match(text):
        errors[field] = _('Use a decimal string such as "15.00" (up to 4 decimals).')
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes it
        errors[field] = _('Use a decimal string such as "15.00" (up to 4 decimals).')
        return None


def parse_percent(value: str, errors: dict[str, str], field: str) -> Decimal | None:
    amount = parse_amount(value, errors, field)
    if amount is not None and amount > 100:
        errors[field] = _("Use a percentage from 0 to 100.")
        return None
    return amount


def amount_str(value: Decimal | None) -> str | None:
    """`Decimal("15.0000")` → `"15.00"`; `Decimal("0.1250")` → `"0.125"`."""
    if value is None:
        return None
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        normal = value.quantize(_CENT)
    return f"{normal:f}"
