"""The PostgreSQL engine shared by every process.

The pool's connections start with a `search_path` naming a schema that does not exist, so an
unqualified table name resolves to nothing outside a tenant scope: a forgotten scope fails
loudly ("relation does not exist") instead of reading some other tenant's rows, and DDL outside
a scope has nowhere to go. Registry tables are declared with `schema="public"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from piccolo.columns import JSON, JSONB
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table
from piccolo.utils.encoding import dump_json

from app.core.config import get_settings
from app.core.problems import Conflict

NO_SCHEMA = "wisp_no_tenant"


def _engine() -> PostgresEngine:
    settings = get_settings()
    return PostgresEngine(
        config={
            "dsn": settings.database_url or "postgresql://postgres@127.0.0.1:5432/wisp",
            "server_settings": {"search_path": NO_SCHEMA, "application_name": "wisp"},
        },
        extensions=(),
        log_queries=False,
    )


DB = _engine()


async def open_pool() -> None:
    settings = get_settings()
    await DB.start_connection_pool(min_size=1, max_size=settings.db_pool_max)


async def close_pool() -> None:
    if DB.pool is not None:
        await DB.close_connection_pool()


@contextmanager
def refuse_if_referenced(message: str) -> Iterator[None]:
    """Deleting a row that other rows still point to is refused by its foreign keys (all are
    ON DELETE RESTRICT): the owner need not know which domains point to it. Use around the
    DELETE alone; the transaction is aborted either way."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise Conflict(message) from None


async def insert_many(connection: Any, table: type[Table], instances: list[Table]) -> None:
    """One prepared INSERT sent for every instance at once (asyncpg pipelines `executemany`):
    several times faster than Piccolo building one long statement for the same rows (the
    instances carry their defaults already). For bulk paths such as the CSV import."""
    if not instances:
        return
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
    sql = f"INSERT INTO {table._meta.get_formatted_tablename()} ({names}) VALUES ({params})"
    if len(records) == 1:
        await connection.execute(sql, *records[0])  # one row (a single sale): no pipeline
    else:
        await connection.executemany(sql, records)
