"""The PostgreSQL engine shared by every process.

The pool's connections start with a `search_path` naming a schema that does not exist, so an
unqualified table name resolves to nothing outside a tenant scope: a forgotten scope fails
loudly ("relation does not exist") instead of reading some other tenant's rows, and DDL outside
a scope has nowhere to go. Registry tables are declared with `schema="public"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from piccolo.engine.postgres import PostgresEngine

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
