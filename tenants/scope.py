"""The tenant scope: the one way tenant data is read or written.

`tenant_scope(tenant)` opens one transaction whose first statement sets `search_path` for that
transaction only (`set_config(..., true)`), so the pooled connection goes back to the pool with
no tenant setting. Work that must happen only if the transaction commits (emails, jobs, gateway
pushes) is registered with `after_commit` and runs after the commit, never on rollback.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresTransaction

from app.db import DB
from app.idempotency import NOT_USED, IdempotencyKey, claim, store
from tenants.registry import TenantRef

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None] | None]


@dataclass
class Scope:
    tenant: TenantRef
    connection: Any
    replayed: bool = False
    """The request's idempotency key was already used: skip the work, answer `replay`."""
    replay: Any = None
    _after_commit: list[AfterCommit] = field(default_factory=list)
    _idempotency: IdempotencyKey | None = None

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    async def remember(self, answer: object) -> None:
        """Store the answer for this request's idempotency key (no-op without one)."""
        if self._idempotency is not None:
            await store(self.connection, self._idempotency, answer)


_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "wisp_tenant_scope", default=None
)


def current_scope() -> Scope:
    scope = _current.get()
    if scope is None:
        raise RuntimeError("no tenant scope is open")
    return scope


def in_scope() -> bool:
    return _current.get() is not None


async def set_search_path(connection: Any, schema: str) -> None:
    await connection.execute("SELECT set_config('search_path', $1, true)", f'"{schema}"')


def _lost(exc: Exception) -> bool:
    text = str(exc)
    return "released back to the pool" in text or "connection is closed" in text


def _quoted(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


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
        await self.connection.execute(f"BEGIN; SET LOCAL search_path TO {_quoted(self.schema)}")

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


@asynccontextmanager
async def schema_scope(schema: str) -> AsyncIterator[Any]:
    """A transaction inside one schema, for migrations and tenant creation."""
    if DB.current_transaction.get() is not None:
        raise RuntimeError("a schema scope cannot open inside another transaction")
    async with ScopedTransaction(schema) as transaction:
        yield transaction.connection


@asynccontextmanager
async def tenant_scope(
    tenant: TenantRef,
    *,
    idempotency: IdempotencyKey | None = None,
    propagate_after_commit: bool = False,
) -> AsyncIterator[Scope]:
    """Jobs propagate after-commit failures (so the queue retries); requests only log them."""
    if _current.get() is not None or DB.current_transaction.get() is not None:
        raise RuntimeError("tenant scopes do not nest")
    async with ScopedTransaction(tenant.schema) as transaction:
        scope = Scope(tenant=tenant, connection=transaction.connection, _idempotency=idempotency)
        if idempotency is not None:
            stored = await claim(transaction.connection, idempotency)
            if stored is not NOT_USED:
                scope.replayed, scope.replay = True, stored
        token = _current.set(scope)
        try:
            yield scope
        finally:
            _current.reset(token)
    for callback in scope._after_commit:
        try:
            result = callback()
            if result is not None:
                await result
        except Exception:
            if propagate_after_commit:
                raise
            # The data is committed; a failed side effect is logged, never turned into an error
            # that would make the client retry a write that already happened.
            log.exception("after-commit callback failed", extra={"tenant": tenant.slug})
