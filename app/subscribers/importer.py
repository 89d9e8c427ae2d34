"""CSV import of existing subscribers, for a WISP moving from another system.

All or nothing, and a dry run that says what the import would say: both run the same code in one
transaction. Every row is checked (`import_rows`), then every good row is written
(`import_write`: by chunks, a chunk the database refuses again row by row under savepoints), so
that what only the database can refuse (a constraint, a value it cannot store, a subscriber
created meanwhile by someone else) is reported against its row as well instead of ending the
import. Then a dry run rolls back and reports; a real run with any bad row rolls back and answers
422 (403 when a row needs a role the importer lacks) listing them; a clean one records the
gateways' desired state and commits, so the import is visible all at once or not at all.

A row whose `external_id` (or, without one, whose email) matches an existing subscriber is left
alone, so running the same file again changes nothing. A real run honours `Idempotency-Key`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import asyncpg
import msgspec

from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Conflict, Invalid, Problem
from app.network.access import sites_by_name
from app.plans.access import plans_by_name
from app.subscribers import status as st
from app.subscribers.access import access_subscriber
from app.subscribers.actions import invite_after_commit
from app.subscribers.import_rows import Checked, Planned, RowError, check_row, repeated_values
from app.subscribers.import_write import write_rows
from tenants.registry import TenantRef
from tenants.scope import Scope, tenant_scope

__all__ = ["ImportForbidden", "ImportRejected", "ImportReport", "RowError", "run_import"]

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
PROGRESS_EVERY = 200
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


class ImportForbidden(Problem):
    status = 403
    slug = "import-forbidden"

    def title(self) -> str:
        return _("Your role may not import some rows of the file")


class _DryRunDone(Exception):
    """Raised inside the scope to roll a dry run back, carrying its report out."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report


def _shown(name: str) -> str:
    """A header cell as it may appear in a message: short and printable."""
    text = "".join(c if c.isprintable() else "?" for c in name[:40])
    return text + ("…" if len(name) > 40 else "")


def _read(raw: bytes) -> list[dict[str, str]]:
    if len(raw) > MAX_BYTES:
        raise Invalid({"file": _("The file may be at most 5 MB.")})
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid({"file": _("Save the file as UTF-8 CSV.")}) from None
    # The csv module refuses a field over 128 KiB with an error that names neither line nor
    # column. The file is at most 5 MB anyway, so every field is read whole and the row checks
    # refuse an over-long cell by its line and column. (Set and reset without an await between:
    # nothing else in this process reads CSV meanwhile.)
    limit = csv.field_size_limit(MAX_BYTES)
    try:
        return _rows(text)
    finally:
        csv.field_size_limit(limit)


def _rows(text: str) -> list[dict[str, str]]:
    # newline="": the csv module handles every line ending itself (a bare CR included).
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
    except csv.Error:
        raise Invalid({"file": _("Line {line} cannot be read as CSV.").format(line=1)}) from None
    header = [h.strip().lower() for h in (fieldnames or [])]
    if not header:
        raise Invalid({"file": _("The file is empty.")})
    unknown = [_shown(h) for h in header if h not in REQUIRED + OPTIONAL]
    missing = [h for h in REQUIRED if h not in header]
    if unknown or missing:
        raise Invalid(
            {
                "file": _("Columns missing: {missing}. Unknown columns: {unknown}.").format(
                    missing=", ".join(missing) or "-", unknown=", ".join(unknown[:20]) or "-"
                )
            }
        )
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if None in row:
                row.pop(None)  # type: ignore[call-overload]
                row["__extra__"] = "1"
            rows.append({k: (v or "").strip() for k, v in row.items()})
            if len(rows) > MAX_ROWS:
                raise Invalid({"file": _("Import at most 20000 rows at a time.")})
    except csv.Error:
        line = reader.line_num
        raise Invalid({"file": _("Line {line} cannot be read as CSV.").format(line=line)}) from None
    return rows


async def _check(
    tenant: TenantRef, scope: Scope, rows: list[dict[str, str]], role: str | None
) -> Checked:
    result = Checked(rows=len(rows))
    plans = await plans_by_name()
    sites = await sites_by_name()
    checked: list[Planned] = []
    repeated = repeated_values(rows)
    for index, row in enumerate(rows):
        planned, row_errors, forbidden = await check_row(tenant, index + 2, row, plans, sites, role)
        result.forbidden = result.forbidden or forbidden
        repeats = repeated.get(index + 2, {})
        if planned is not None and not repeats:
            checked.append(planned)
        else:
            found = {**row_errors, **repeats}
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
    return result


async def run_import(
    tenant: TenantRef,
    raw: bytes,
    actor: Actor,
    *,
    dry_run: bool,
    role: str | None = None,
    invite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    idempotency: IdempotencyKey | None = None,
) -> ImportReport:
    """Check and write in one transaction; commit unless a dry run or a row is refused.

    `role` is the importing staff member's (None: the `wisp import` command).
    `progress(done, total)` is called as rows are written."""
    rows = _read(raw)
    try:
        async with tenant_scope(tenant, idempotency=None if dry_run else idempotency) as scope:
            if scope.replayed:
                return msgspec.convert(scope.replay, ImportReport)
            checked = await _check(tenant, scope, rows, role)
            if progress:
                progress(0, len(checked.planned))
            created = await write_rows(checked, actor, progress)
            errors = sorted(checked.errors, key=lambda e: (e.row, e.field))
            report = ImportReport(dry_run, checked.rows, len(created), checked.existing, errors)
            if dry_run:
                raise _DryRunDone(report)
            if errors:
                problem = ImportForbidden if checked.forbidden else ImportRejected
                raise problem(
                    _("Nothing was imported. Correct these rows and try again."),
                    errors=[msgspec.to_builtins(e) for e in errors],
                )
            # The gateways learn of the new subscribers last, so the desired-state counter
            # (which every change of the tenant's network waits on) is held only briefly.
            for subscriber_id, status in created:
                if status in st.KNOWN_TO_NETWORK:
                    await st.enforce(await access_subscriber(subscriber_id))
                if invite:
                    invite_after_commit(scope, subscriber_id)
            await scope.remember(msgspec.to_builtins(report))
    except _DryRunDone as done:
        return done.report
    except asyncpg.TransactionRollbackError:
        # A deadlock or serialization failure against another import of the same rows.
        raise Conflict(
            _("Another change to the same subscribers got in the way. Try again.")
        ) from None
    return report
