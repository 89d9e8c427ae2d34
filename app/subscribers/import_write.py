"""Writing the checked rows of a CSV import, inside the import's one transaction.

Rows go in by chunks, each chunk in a few multi-row INSERTs under a savepoint. When the
database refuses something in a chunk, the chunk is rolled back to its savepoint and written
again row by row, each row under its own savepoint, so the refusal is reported against its row
and column and every other row is still tried: a dry run thus reports everything the import
would refuse, not only the first problem.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from piccolo.table import Table

from app.core.audit import Actor, event_row
from app.core.db import insert_many
from app.core.events import emit
from app.core.i18n import _
from app.core.timeutil import now
from app.subscribers import status as st
from app.subscribers.actions import subscriber_rows
from app.subscribers.events import Installation, SubscribersAwaitInstallation
from app.subscribers.import_rows import Checked, Planned, RowError
from app.subscribers.tables import Subscriber
from tenants.scope import current_scope

CHUNK = 200
REFUSED = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)
"""What the database says about a row's values; anything else (a deadlock, a lost
connection) ends the import."""


async def _insert(rows: list[Planned], actor: Actor) -> list[uuid.UUID]:
    """The rows of the single-subscriber route, plus an audit record per row, a few statements
    for the whole list; then the pending rows' installation work orders, through the same
    event as a single sale."""
    tables: dict[type[Table], list[Table]] = {}
    installations: list[Installation] = []
    ids = []
    for p in rows:
        extra: dict[str, Any] = {}
        if p.mac:
            extra.update(cpe_mac=p.mac, cpe_authenticated_at=now())
        if p.status in st.KNOWN_TO_NETWORK:
            extra.update(
                billing_start_date=p.billing_start, activated_at=now(), suspension_reason=p.reason
            )
        subscriber, change, account = subscriber_rows(
            p.clean, p.plan_id, actor, status=p.status, note="imported", extra=extra
        )
        subscriber_id: uuid.UUID = subscriber.id
        made: list[Table] = [subscriber, change, account]
        if p.status == st.PENDING:
            installations.append(Installation(subscriber_id, uuid.uuid4()))
        made.append(
            event_row(
                actor,
                "subscriber.import",
                "subscriber",
                subscriber_id,
                line=p.line,
                status=p.status,
                external_id=p.clean["external_id"],
            )
        )
        for row in made:
            tables.setdefault(type(row), []).append(row)
        ids.append(subscriber_id)
    connection = current_scope().connection
    for table, instances in tables.items():  # in order: subscribers before what refers to them
        await insert_many(connection, table, instances)
    if installations:
        await emit(SubscribersAwaitInstallation(installations, actor))
    return ids


def _refusal(exc: asyncpg.PostgresError) -> tuple[str, str]:
    """The column and message for a row the database refused."""
    constraint = getattr(exc, "constraint_name", None) or ""
    if isinstance(exc, asyncpg.UniqueViolationError):
        if "external_id" in constraint:
            return "external_id", _("Another subscriber already has this external id.")
        if "mac" in constraint:
            return "cpe_mac", _("Another subscriber already uses this MAC address.")
        if "email" in constraint:
            return "email", _("Another subscriber already has this email address.")
    column = getattr(exc, "column_name", None) or "row"
    return column, _("The database cannot store this row as it is.")


async def _matched(p: Planned) -> bool:
    external = p.clean["external_id"]
    return bool(
        await Subscriber.exists().where(
            (Subscriber.external_id == external)
            if external
            else (Subscriber.email == p.clean["email"])
        )
    )


async def _one_by_one(
    rows: list[Planned], checked: Checked, actor: Actor
) -> list[tuple[uuid.UUID, str]]:
    conn = current_scope().connection
    written = []
    for p in rows:
        await conn.execute("SAVEPOINT import_row")
        try:
            (subscriber_id,) = await _insert([p], actor)
            written.append((subscriber_id, p.status))
        except REFUSED as exc:
            await conn.execute("ROLLBACK TO SAVEPOINT import_row")
            if isinstance(exc, asyncpg.UniqueViolationError) and await _matched(p):
                checked.existing += 1  # imported meanwhile by another run, which committed
            else:
                field, message = _refusal(exc)
                checked.errors.append(RowError(p.line, field, message))
        await conn.execute("RELEASE SAVEPOINT import_row")
    return written


async def write_rows(
    checked: Checked, actor: Actor, progress: Callable[[int, int], None] | None
) -> list[tuple[uuid.UUID, str]]:
    """Write every planned row; what the database refuses becomes a row error in `checked`.
    Returns the new subscribers' ids and statuses."""
    conn = current_scope().connection
    created: list[tuple[uuid.UUID, str]] = []
    total = len(checked.planned)
    for start in range(0, total, CHUNK):
        chunk = checked.planned[start : start + CHUNK]
        await conn.execute("SAVEPOINT import_chunk")
        try:
            ids = await _insert(chunk, actor)
            created += zip(ids, [p.status for p in chunk], strict=True)
        except REFUSED:
            await conn.execute("ROLLBACK TO SAVEPOINT import_chunk")
            created += await _one_by_one(chunk, checked, actor)
        await conn.execute("RELEASE SAVEPOINT import_chunk")
        if progress:
            progress(min(start + CHUNK, total), total)
    return created
