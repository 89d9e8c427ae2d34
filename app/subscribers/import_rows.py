"""The checks on each row of a CSV import, before anything is written.

Every cell is checked the same way whether the import is a dry run or not: no control
characters (a NUL cannot be stored), no value longer than any column holds, then the same
validation as the single-subscriber routes, then the role rules of those routes, row by row.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app.core.i18n import _
from app.core.roles import Role
from app.core.timeutil import now
from app.subscribers import status as st
from app.subscribers.access import normalise_email
from app.subscribers.actions import clean_subscriber
from app.subscribers.mac import normalise_mac
from app.subscribers.timing import local_date
from tenants.registry import TenantRef

MAX_CELL = 1000
"""No column holds more (the longest, the address, holds 300): a longer cell is refused
before anything else looks at it, so a huge value is never echoed or validated."""
IMPORTABLE = (st.PENDING, st.ACTIVE, st.SUSPENDED)

# The single-subscriber routes split these steps between roles (app/identity/permissions.py):
# recording a CPE's MAC is `authenticate-cpe` (manager, technical), putting a subscriber online
# is `activate` (manager, technical), suspending is `suspend` (manager, finance). A row that
# does a step needs a role that may do it there; of the roles that may import at all (manager,
# sales), that leaves the manager for active or suspended rows and for MACs. So sales cannot
# put a device online without a technician. `None` is the `wisp import` command: the server's
# operator, who is trusted with the database itself.
RECORD_MAC = frozenset({Role.MANAGER.value, Role.TECHNICAL.value})
ACTIVATE = frozenset({Role.MANAGER.value, Role.TECHNICAL.value})
SUSPEND = frozenset({Role.MANAGER.value, Role.FINANCE.value})
MAY_IMPORT: dict[str, frozenset[str] | None] = {
    st.PENDING: None,
    st.ACTIVE: ACTIVATE & RECORD_MAC,
    st.SUSPENDED: ACTIVATE & RECORD_MAC & SUSPEND,
}


class RowError(msgspec.Struct):
    row: int
    """The line's number in the file, the header being line 1."""
    field: str
    message: str


@dataclass
class Planned:
    line: int
    clean: dict[str, Any]
    plan_id: Any
    status: str
    reason: str | None
    mac: str | None
    billing_start: dt.date | None


@dataclass
class Checked:
    rows: int = 0
    planned: list[Planned] = field(default_factory=list)
    existing: int = 0
    errors: list[RowError] = field(default_factory=list)
    forbidden: bool = False
    """Some row needs a role the importer does not have (the import answers 403)."""


def _control(value: str) -> bool:
    # Tabs and line breaks are fine inside a quoted cell (a two-line address); the rest of
    # Unicode's control characters, NUL first, cannot be stored or shown.
    return any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in value)


def cell_errors(row: dict[str, str]) -> dict[str, str]:
    """Cells that no column could take, whatever their meaning."""
    errors: dict[str, str] = {}
    for name, value in row.items():
        if name.startswith("__"):
            continue
        if len(value) > MAX_CELL:
            errors[name] = _("Use at most {limit} characters.").format(limit=MAX_CELL)
        elif _control(value):
            errors[name] = _("Remove the control characters (such as NUL) from this value.")
    return errors


def _number(value: str, name: str, errors: dict[str, str]) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        errors[name] = _("Use a number.")
        return None


def role_errors(role: str | None, status: str, mac: str | None) -> dict[str, str]:
    """What this row asks that the importer's role may not do on the single routes."""
    if role is None:
        return {}
    errors: dict[str, str] = {}
    allowed = MAY_IMPORT.get(status)
    if allowed is not None and role not in allowed:
        errors["status"] = _(
            "Only a manager may import active or suspended subscribers. Import them as"
            " pending_installation and a technician installs them."
        )
    if mac and role not in RECORD_MAC:
        errors["cpe_mac"] = _(
            "Your role may not record a CPE's MAC address: a technician records it at the"
            " installation."
        )
    return errors


async def check_row(
    tenant: TenantRef,
    line: int,
    row: dict[str, str],
    plans: dict[str, Any],
    sites: dict[str, Any],
    role: str | None,
) -> tuple[Planned | None, dict[str, str], bool]:
    """(the planned row or None, its errors, whether an error is the importer's role)."""
    refused = cell_errors(row)
    usable = {k: ("" if k in refused else v) for k, v in row.items()}
    errors: dict[str, str] = {}
    if usable.get("__extra__"):
        errors["file"] = _("This line has more values than the header has columns.")
    raw: dict[str, Any] = {
        "name": usable["name"],
        "email": usable["email"],
        "phone": usable.get("phone", ""),
        "address": usable.get("address", ""),
        "latitude": _number(usable.get("latitude", ""), "latitude", errors),
        "longitude": _number(usable.get("longitude", ""), "longitude", errors),
        "language": usable.get("language") or None,
        "external_id": usable.get("external_id") or None,
    }
    clean = await clean_subscriber(raw, errors)
    site_name = usable.get("site", "").lower()
    if site_name:
        if site_name in sites:
            clean["site"] = sites[site_name]
        else:
            errors["site"] = _("No site has this name.")
    plan_id = plans.get(usable["plan"].lower())
    if plan_id is None:
        errors["plan"] = _("No current rate plan has this name.")
    status = usable.get("status") or st.PENDING
    if status not in IMPORTABLE:
        errors["status"] = _("Use pending_installation, active or suspended.")
    reason = None
    if status == st.SUSPENDED:
        reason = usable.get("suspension_reason") or "admin"
        if reason not in ("non_payment", "admin", "data_cap"):
            errors["suspension_reason"] = _("Choose non_payment, admin or data_cap.")
    mac = None
    if usable.get("cpe_mac"):
        mac, problem = normalise_mac(usable["cpe_mac"])
        if problem:
            errors["cpe_mac"] = problem
    elif status in st.KNOWN_TO_NETWORK and "cpe_mac" not in refused:
        errors["cpe_mac"] = _("An active or suspended subscriber needs the CPE's MAC address.")
    start = None
    if usable.get("billing_start_date"):
        try:
            start = dt.date.fromisoformat(usable["billing_start_date"])
        except ValueError:
            errors["billing_start_date"] = _("Use an ISO 8601 date such as 2025-03-01.")
    elif status in st.KNOWN_TO_NETWORK:
        start = local_date(tenant, now())
    forbidden = role_errors(role, status, mac or row.get("cpe_mac") or None)
    # The cell's own problem is the one to fix first; the role's, the one that decides.
    errors.update(refused)
    errors.update(forbidden)
    if errors:
        return None, errors, bool(forbidden)
    return Planned(line, clean, plan_id, status, reason, mac, start), {}, False


def repeated_values(rows: list[dict[str, str]]) -> dict[int, dict[str, str]]:
    """Lines repeating an earlier line's email, external id or MAC, whatever else is wrong."""
    first: dict[str, dict[str, int]] = {"email": {}, "external_id": {}, "cpe_mac": {}}
    found: dict[int, dict[str, str]] = {}
    for index, row in enumerate(rows):
        line = index + 2
        values = {
            "email": normalise_email(row.get("email", "")) or None,
            "external_id": row.get("external_id") or None,
            "cpe_mac": normalise_mac(row["cpe_mac"])[0] if row.get("cpe_mac") else None,
        }
        for name, value in values.items():
            if value is None:
                continue
            if value in first[name]:
                found.setdefault(line, {})[name] = _(
                    "Line {line} of the file has the same value."
                ).format(line=first[name][value])
            else:
                first[name][value] = line
    return found
