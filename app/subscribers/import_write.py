"""Writing the checked rows of a CSV import, inside the import's one transaction.

Rows go in by chunks, each chunk in a few multi-row INSERTs under a savepoint. When the
database refuses something in a chunk, the chunk is rolled back to its savepoint and written
again row by row, each row under its own savepoint, so the refusal is reported against its row
and column and every other row is still tried: a dry run thus reports everything the import
would refuse, not only the first problem.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from piccolo.columns import JSON, JSONB
from piccolo.table import Table
from piccolo.utils.encoding import dump_json

from app.audit import Actor, AuditEvent
from app.i18n import _
from app.subscribers import status as st
from app.subscribers.actions import subscriber_rows
from app.subscribers.import_rows import Checked, Planned, RowError
from app.subscribers.tables import Subscriber
from app.timeutil import now
from tenants.scope import current_scope

CHUNK = 200
REFUSED = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)
"""What the database says about a row's values; anything else (a deadlock, a lost
connection) ends the import."""


def _audit_row(actor: Actor, action: str, object_type: str, object_id: object, **data: Any) -> Any:
    # What `audit.record` writes, built to be inserted with the rest of the chunk.
    return AuditEvent(
        occurred_at=dt.datetime.now(dt.UTC),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=data,
        ip=actor.ip,
        request_id=actor.request_id,
    )


async def _insert(rows: list[Planned], actor: Actor) -> list[uuid.UUID]:
    """The rows of the single-subscriber route and of `new_work_order` (for pending rows),
    plus an audit record per row, a few statements for the whole list."""
    from app.workorders.machine import INSTALLATION, work_order_row

    tables: dict[type[Table], list[Table]] = {}
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
            order = work_order_row(subscriber_id, INSTALLATION, actor)
            made.append(order)
            made.append(
                _audit_row(
                    actor,
                    "work_order.create",
                    "work_order",
                    order.id,
                    kind=INSTALLATION,
                    subscriber_id=str(subscriber_id),
                )
            )
        made.append(
            _audit_row(
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
    for table, instances in tables.items():  # in order: subscribers before what refers to them
        await _insert_many(table, instances)
    return ids


async def _insert_many(table: type[Table], instances: list[Table]) -> None:
    """One prepared INSERT sent for every instance at once (asyncpg pipelines `executemany`):
    several times faster than Piccolo building one long statement, for the same rows (the
    instances carry their defaults already)."""
    columns = table._meta.columns
    names = ", ".join(f'"{c._meta.db_column_name}"' for c in columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    json_columns = {i for i, c in enumerate(columns) if isinstance(c, JSON | JSONB)}
    records = []
    for instance in instances:
        values = [getattr(instance, c._meta.name) for c in columns]
        for i in json_columns:
            if not isinstance(values[i], str | None):
                values[i] = dump_json(values[i])
        records.append(values)
    await current_scope().connection.executemany(
        f"INSERT INTO {table._meta.get_formatted_tablename()} ({names}) VALUES ({params})",
        records,
    )


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
