"""CSV import of existing subscribers, for a WISP moving from another system.

Every row is checked first (a dry run stops there and reports each bad row). The import itself
refuses a file with any bad row, then writes in chunks, each its own transaction. A row whose
`external_id` (or, without one, whose email) matches an existing subscriber is left alone, so
running the same file again changes nothing, and a run interrupted halfway is finished by
running it again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from app import audit
from app.audit import Actor
from app.i18n import _
from app.network.tables import Site
from app.plans.tables import RatePlan
from app.problems import Invalid, Problem
from app.subscribers import status as st
from app.subscribers.access import access_subscriber, normalise_email
from app.subscribers.actions import clean_subscriber, insert_subscriber, invite_after_commit
from app.subscribers.mac import normalise_mac
from app.subscribers.tables import Subscriber
from app.subscribers.timing import local_date
from app.timeutil import now
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
CHUNK = 200
REQUIRED = ("name", "email", "plan")
OPTIONAL = (
    "phone",
    "address",
    "latitude",
    "longitude",
    "language",
    "status",
    "suspension_reason",
    "cpe_mac",
    "billing_start_date",
    "external_id",
    "site",
)
IMPORTABLE = (st.PENDING, st.ACTIVE, st.SUSPENDED)


class RowError(msgspec.Struct):
    row: int
    """The line's number in the file, the header being line 1."""
    field: str
    message: str


class ImportReport(msgspec.Struct):
    dry_run: bool
    rows: int
    created: int
    """Created by this run (a dry run: would be created)."""
    existing: int
    """Already imported (matched by external_id or email): left unchanged."""
    errors: list[RowError]


class ImportRejected(Problem):
    status = 422
    slug = "import-rejected"

    def title(self) -> str:
        return _("Some rows of the file are not valid")


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


def _read(raw: bytes) -> list[dict[str, str]]:
    if len(raw) > MAX_BYTES:
        raise Invalid({"file": _("The file may be at most 5 MB.")})
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid({"file": _("Save the file as UTF-8 CSV.")}) from None
    try:
        return _rows(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error:  # a field over the csv module's limit, a stray quote or NUL
        raise Invalid({"file": _("The file is not a valid CSV file.")}) from None


def _rows(reader: csv.DictReader[str]) -> list[dict[str, str]]:
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise Invalid({"file": _("The file is empty.")})
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    missing = [h for h in REQUIRED if h not in header]
    if unknown or missing:
        raise Invalid(
            {
                "file": _("Columns missing: {missing}. Unknown columns: {unknown}.").format(
                    missing=", ".join(missing) or "-", unknown=", ".join(unknown) or "-"
                )
            }
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            row.pop(None)  # type: ignore[call-overload]
            row["__extra__"] = "1"
        rows.append({k: (v or "").strip() for k, v in row.items()})
        if len(rows) > MAX_ROWS:
            raise Invalid({"file": _("Import at most 20000 rows at a time.")})
    return rows


def _number(value: str, name: str, errors: dict[str, str]) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        errors[name] = _("Use a number.")
        return None


async def _check_row(
    tenant: TenantRef,
    line: int,
    row: dict[str, str],
    plans: dict[str, Any],
    sites: dict[str, Any],
) -> Planned | dict[str, str]:
    errors: dict[str, str] = {}
    if row.get("__extra__"):
        errors["file"] = _("This line has more values than the header has columns.")
    raw: dict[str, Any] = {
        "name": row["name"],
        "email": row["email"],
        "phone": row.get("phone", ""),
        "address": row.get("address", ""),
        "latitude": _number(row.get("latitude", ""), "latitude", errors),
        "longitude": _number(row.get("longitude", ""), "longitude", errors),
        "language": row.get("language") or None,
        "external_id": row.get("external_id") or None,
    }
    clean = await clean_subscriber(raw, errors)
    site_name = row.get("site", "").lower()
    if site_name:
        if site_name in sites:
            clean["site"] = sites[site_name]
        else:
            errors["site"] = _("No site has this name.")
    plan_id = plans.get(row["plan"].lower())
    if plan_id is None:
        errors["plan"] = _("No current rate plan has this name.")
    status = row.get("status") or st.PENDING
    if status not in IMPORTABLE:
        errors["status"] = _("Use pending_installation, active or suspended.")
    reason = None
    if status == st.SUSPENDED:
        reason = row.get("suspension_reason") or "admin"
        if reason not in ("non_payment", "admin", "data_cap"):
            errors["suspension_reason"] = _("Choose non_payment, admin or data_cap.")
    mac = None
    if row.get("cpe_mac"):
        mac, problem = normalise_mac(row["cpe_mac"])
        if problem:
            errors["cpe_mac"] = problem
    elif status in st.KNOWN_TO_NETWORK:
        errors["cpe_mac"] = _("An active or suspended subscriber needs the CPE's MAC address.")
    start = None
    if row.get("billing_start_date"):
        try:
            start = dt.date.fromisoformat(row["billing_start_date"])
        except ValueError:
            errors["billing_start_date"] = _("Use an ISO 8601 date such as 2025-03-01.")
    elif status in st.KNOWN_TO_NETWORK:
        start = local_date(tenant, now())
    if errors:
        return errors
    return Planned(line, clean, plan_id, status, reason, mac, start)


def _repeated_values(rows: list[dict[str, str]]) -> dict[int, dict[str, str]]:
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


async def check(tenant: TenantRef, raw: bytes) -> Checked:
    rows = _read(raw)
    result = Checked(rows=len(rows))
    async with tenant_scope(tenant) as scope:
        plans = {
            r["name"].lower(): r["id"]
            for r in await RatePlan.select(RatePlan.id, RatePlan.name).where(
                RatePlan.archived_at.is_null()
            )
        }
        sites = {r["name"].lower(): r["id"] for r in await Site.select(Site.id, Site.name)}
        checked: list[Planned] = []
        repeated = _repeated_values(rows)
        for index, row in enumerate(rows):
            outcome = await _check_row(tenant, index + 2, row, plans, sites)
            repeats = repeated.get(index + 2, {})
            if isinstance(outcome, Planned) and not repeats:
                checked.append(outcome)
            else:
                found = {**(outcome if isinstance(outcome, dict) else {}), **repeats}
                result.errors += [RowError(index + 2, f, m) for f, m in found.items()]
        existing = await scope.connection.fetch(
            "SELECT id, email, external_id, cpe_mac, status FROM subscriber"
            " WHERE email = ANY($1::text[]) OR external_id = ANY($2::text[])"
            " OR cpe_mac = ANY($3::text[])",
            [p.clean["email"] for p in checked],
            [p.clean["external_id"] for p in checked if p.clean["external_id"]],
            [p.mac for p in checked if p.mac],
        )
    by_email = {r["email"]: r for r in existing}
    by_external = {r["external_id"]: r for r in existing if r["external_id"]}
    by_mac = {r["cpe_mac"]: r for r in existing if r["cpe_mac"] and r["status"] in st.LIVE}
    for p in checked:
        external = p.clean["external_id"]
        match = by_external.get(external) if external else by_email.get(p.clean["email"])
        if match is not None:
            result.existing += 1
            continue
        problems: dict[str, str] = {}
        if p.clean["email"] in by_email:
            problems["email"] = _("Another subscriber already has this email address.")
        if p.mac and p.mac in by_mac:
            problems["cpe_mac"] = _("Another subscriber already uses this MAC address.")
        if problems:
            result.errors += [RowError(p.line, f, m) for f, m in problems.items()]
        else:
            result.planned.append(p)
    result.errors.sort(key=lambda e: (e.row, e.field))
    return result


async def _write(tenant: TenantRef, chunk: list[Planned], actor: Actor, invite: bool) -> int:
    from app.workorders.machine import INSTALLATION, new_work_order

    created = 0
    async with tenant_scope(tenant) as scope:
        for p in chunk:
            external = p.clean["external_id"]
            match = Subscriber.exists().where(
                (Subscriber.external_id == external)
                if external
                else (Subscriber.email == p.clean["email"])
            )
            if await match:
                continue  # imported meanwhile by another run
            extra: dict[str, Any] = {}
            if p.mac:
                extra.update(cpe_mac=p.mac, cpe_authenticated_at=now())
            if p.status in st.KNOWN_TO_NETWORK:
                extra.update(
                    billing_start_date=p.billing_start,
                    activated_at=now(),
                    suspension_reason=p.reason,
                )
            subscriber_id = await insert_subscriber(
                scope, p.clean, p.plan_id, actor, status=p.status, note="imported", extra=extra
            )
            if p.status == st.PENDING:
                await new_work_order(subscriber_id, INSTALLATION, actor)
            else:
                await st.enforce(await access_subscriber(subscriber_id))
            await audit.record(
                actor,
                "subscriber.import",
                "subscriber",
                subscriber_id,
                line=p.line,
                status=p.status,
                external_id=external,
            )
            if invite:
                invite_after_commit(scope, subscriber_id)
            created += 1
    return created


async def run_import(
    tenant: TenantRef,
    raw: bytes,
    actor: Actor,
    *,
    dry_run: bool,
    invite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Check, then (unless a dry run) import; `progress(done, total)` after each chunk."""
    checked = await check(tenant, raw)
    if dry_run:
        return ImportReport(
            True, checked.rows, len(checked.planned), checked.existing, checked.errors
        )
    if checked.errors:
        raise ImportRejected(
            _("Nothing was imported. Correct these rows and try again."),
            errors=[msgspec.to_builtins(e) for e in checked.errors],
        )
    created, total = 0, len(checked.planned)
    if progress:
        progress(0, total)
    for start in range(0, total, CHUNK):
        chunk = checked.planned[start : start + CHUNK]
        created += await _write(tenant, chunk, actor, invite)
        if progress:
            progress(min(start + CHUNK, total), total)
    return ImportReport(False, checked.rows, created, checked.rows - created, [])
