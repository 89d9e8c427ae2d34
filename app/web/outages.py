"""A database or Redis outage, or a transaction PostgreSQL rolled back to break a conflict,
answers 503 with Retry-After: the request's transaction did not commit (or, lost while
committing, is replayed by its Idempotency-Key), so trying again is the right move for the
client, and the PWA's outbox does exactly that. Never a 500 that reads like a bug.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import redis.exceptions
from litestar import Request, Response

from app.core.i18n import _
from app.core.problems import handle_crash, problem

log = logging.getLogger(__name__)

RETRY_AFTER = 2

TRANSIENT: tuple[type[Exception], ...] = (
    # The connection is gone: the server restarted, a backend was terminated, the network cut.
    asyncpg.exceptions.PostgresConnectionError,
    # Class 57: administrator shutdown, crash shutdown, "cannot connect now" while starting.
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    # Class 40: a deadlock victim or a serialization failure, rolled back by the server.
    asyncpg.exceptions.TransactionRollbackError,
    # Opening a new pooled connection to a server that is not there.
    ConnectionRefusedError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def _closed_connection(exc: Exception) -> bool:
    """asyncpg says InterfaceError for a connection that closed under it (a rollback after the
    backend was terminated); the same class also reports our own mistakes, which stay 500s."""
    return "connection is closed" in str(exc) or "connection was closed" in str(exc)


def handle_outage(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and not _closed_connection(exc):
        return handle_crash(request, exc)
    log.warning("transient failure: %s", type(exc).__name__, exc_info=exc)
    return problem(
        503,
        "service-unavailable",
        _("Service briefly unavailable"),
        _("Please try again in a moment."),
        retry_after=RETRY_AFTER,
    )


OUTAGE_HANDLERS: dict[Any, Any] = {
    cls: handle_outage for cls in (*TRANSIENT, asyncpg.exceptions.InterfaceError)
}
