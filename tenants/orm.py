"""Everything we use of Piccolo beyond declaring tables and querying them, in one place.

Piccolo is pinned to the range these functions were tested with (`pyproject.toml`); a new
version is adopted by running the suite and changing this module alone. What we rely on:
- its transaction class and context variable (`ScopedTransaction`: the tenant scope opens a
  Piccolo transaction whose BEGIN also sets the search path, so every query inside finds it);
- its migration managers (each migration file's `forwards()`), run quietly;
- its auto-migration diff (what `wisp migrate --check` compares and `wisp makemigrations`
  writes), which lives in private modules.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import sys
from collections.abc import Iterator
from itertools import chain
from types import ModuleType
from typing import Any

import asyncpg
from piccolo.apps.migrations.commands.new import (
    AutoMigrationManager,
    NoChanges,
    _create_new_migration,
)
from piccolo.conf.apps import AppConfig
from piccolo.engine.postgres import PostgresTransaction

from app.core.db import DB


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ScopedTransaction(PostgresTransaction):
    """Piccolo's transaction, opened as `BEGIN; SET LOCAL search_path …` in one round trip.

    Every tenant request pays for opening a scope, so the search path travels with the BEGIN
    (simple query protocol, two statements) instead of costing a round trip of its own. Piccolo
    finds this transaction through its context variable exactly as it finds its own.
    """

    def __init__(self, schema: str) -> None:
        super().__init__(engine=DB, allow_nested=False)
        self.schema = schema

    async def begin(self) -> None:
        await self.connection.execute(f"BEGIN; SET LOCAL search_path TO {quote_ident(self.schema)}")

    async def commit(self) -> None:
        await self.connection.execute("COMMIT")
        self._committed = True

    async def rollback(self) -> None:
        try:
            await self.connection.execute("ROLLBACK")
        except asyncpg.InterfaceError as exc:
            # The connection was lost (the server ended the session: its transaction ended
            # with it) and asyncpg already gave it back to the pool. Nothing to roll back;
            # the error that brought us here is the one to report, not this one.
            if not _lost(exc):
                raise
        self._rolled_back = True


def _lost(exc: Exception) -> bool:
    text = str(exc)
    return "released back to the pool" in text or "connection is closed" in text


def in_transaction() -> bool:
    return DB.current_transaction.get() is not None


class _QuietStdout(io.TextIOBase):
    """Forwards to the real stdout except inside `quiet()`, per task: Piccolo prints a line per
    migration, and swapping `sys.stdout` itself is process-wide, which concurrent tenants'
    migrations would undo out of order."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, text: str) -> int:
        return len(text) if _quiet.get() else int(self.real.write(text))

    def flush(self) -> None:
        self.real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("wisp_quiet", default=False)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    if not isinstance(sys.stdout, _QuietStdout):
        sys.stdout = _QuietStdout(sys.stdout)
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


async def run_forwards(module: ModuleType) -> None:
    """Apply one migration file's Piccolo operations on the current transaction."""
    manager = await module.forwards()
    with quiet():
        await manager.run()


async def table_drift(app_config: AppConfig) -> list[str]:
    """The statements that would bring the migration files in step with the table classes."""
    # Piccolo prints a summary table while diffing; the command prints its own verdict.
    with contextlib.redirect_stdout(io.StringIO()):
        statements = await AutoMigrationManager(auto_input="y").get_alter_statements(
            app_config=app_config
        )
    return list(chain(*[s.statements for s in statements]))


async def write_table_migration(
    app_config: AppConfig, description: str, *, empty: bool = False
) -> str | None:
    """Write the migration file for the tables' changes (None when nothing changed), or an
    empty one to carry raw DDL alone."""
    try:
        meta = await _create_new_migration(
            app_config=app_config, auto=not empty, description=description, auto_input="y"
        )
    except NoChanges:
        return None
    return str(meta.migration_path)
