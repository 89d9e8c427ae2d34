"""Money: Decimal amounts with an ISO 4217 currency, rounded explicitly to its minor unit."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision


@functools.cache
def exponent(currency: str) -> int:
    """Digits after the decimal point: 0 for JPY/CLP, 2 for USD, 3 for KWD/BHD."""
    return int(get_currency_precision(currency))


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit: the rounding invoices are expected to use."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def parse_amount(text: object, currency: str) -> Decimal | None:
    """A decimal string with no more digits than the currency has; None when it is not one.

    JSON numbers are refused on purpose: a float has already lost the cents.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 32:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    try:
        exact = value == value.quantize(quantum(currency))
    except InvalidOperation:
        return None
    return value if exact else None


def to_string(amount: Decimal, currency: str) -> str:
    return str(round_money(amount, currency))


def display(amount: Decimal, currency: str, language: str) -> str:
    return str(format_currency(amount, currency, locale=language))
