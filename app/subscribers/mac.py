"""CPE MAC addresses: one canonical form, `aa:bb:cc:dd:ee:ff`."""

from __future__ import annotations

import re

from app.core.i18n import _

_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_FORMS = (
    re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"),  # aa:bb:cc:dd:ee:ff
    re.compile(r"^[0-9a-f]{2}(-[0-9a-f]{2}){5}$"),  # aa-bb-cc-dd-ee-ff
    re.compile(r"^[0-9a-f]{4}(\.[0-9a-f]{4}){2}$"),  # aabb.ccdd.eeff (Cisco)
    _HEX12,  # aabbccddeeff
)


def normalise_mac(value: str) -> tuple[str | None, str | None]:
    """(canonical MAC, None) or (None, why it is refused, translated)."""
    text = value.strip().lower()
    if not any(form.match(text) for form in _FORMS):
        return None, _("Enter a MAC address such as aa:bb:cc:dd:ee:ff.")
    digits = re.sub(r"[^0-9a-f]", "", text)
    if digits == "ffffffffffff":
        return None, _("The broadcast address is not a device's MAC address.")
    if int(digits[:2], 16) & 1:
        return None, _("This is a multicast address, not a device's MAC address.")
    if digits == "000000000000":
        return None, _("Enter the MAC address printed on the CPE radio.")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2)), None


def mac_fragment(query: str) -> str | None:
    """A search text that looks like part of a MAC, in the stored form (`AA-BB` → `aa:bb`)."""
    text = query.strip().lower()
    digits = re.sub(r"[:.\-]", "", text)
    if len(digits) < 4 or not re.fullmatch(r"[0-9a-f]+", digits):
        return None
    if text != digits and not re.fullmatch(r"[0-9a-f]{2}([:\-][0-9a-f]{2})+|[0-9a-f.]+", text):
        return None
    if len(digits) % 2:
        return None
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
