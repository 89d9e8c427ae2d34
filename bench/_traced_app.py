"""The real app with a stopwatch on each phase of a request, for `bench.api`'s breakdown.

Served by uvicorn (`uvicorn bench._traced_app:app`), started by `bench.api`, never by hand and
never in production. The functions the request path looks up at call time are wrapped before
the app is built: tenant resolution, the session lookup, every Redis command, every asyncpg
statement and pool acquire/release, the list action, JSON encoding, the request log line, and
Litestar's hop to its thread pool for a sync guard. Each phase gets its wall time and the event
loop thread's CPU time.
Each request's times go into a record of its own (a context variable set by the outer ASGI
wrapper), so the breakdown is per request. Two extra paths answer outside the app:
`/__bench__/trace` (the records and every SQL text seen) and `/__bench__/reset`.
"""

from __future__ import annotations

import contextvars
import functools
import json
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

_request: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "bench_request", default=None
)
_records: list[dict[str, float]] = []
_statements: Counter[str] = Counter()


class _Stopwatch:
    """Wall time and this thread's CPU time; with one client at a time, the event loop thread's
    CPU during a phase is that phase's own cost, however busy the machine is."""

    __slots__ = ("cpu", "label", "wall")

    def __init__(self, label: str) -> None:
        self.label = label
        self.wall, self.cpu = time.perf_counter(), time.thread_time()

    def stop(self) -> None:
        record = _request.get()
        if record is not None:
            label = self.label
            record[label] = record.get(label, 0.0) + time.perf_counter() - self.wall
            record["cpu:" + label] = record.get("cpu:" + label, 0.0) + time.thread_time() - self.cpu
            record["#" + label] = record.get("#" + label, 0.0) + 1


def _timed_async(label: str, original: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        watch = _Stopwatch(label)
        try:
            return await original(*args, **kwargs)
        finally:
            watch.stop()

    return wrapper


def _sql_label(query: str) -> str:
    text = " ".join(query.split())
    upper = text.upper()
    if upper.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
        return "sql " + upper.split()[0].rstrip(";")
    if "SET_CONFIG" in upper:
        return "sql set_config(search_path)"
    if "FROM SUBSCRIBER" in upper:
        return "sql SELECT … FROM subscriber"
    return "sql " + text[:40]


def _patch_asyncpg() -> None:
    from asyncpg.connection import Connection
    from asyncpg.pool import Pool

    for method in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        original = getattr(Connection, method)

        async def wrapper(self: Any, query: str, *args: Any, _o: Any = original, **kw: Any) -> Any:
            watch = _Stopwatch(_sql_label(query))
            try:
                return await _o(self, query, *args, **kw)
            finally:
                if _request.get() is not None:
                    _statements[query] += 1
                watch.stop()

        setattr(Connection, method, wrapper)
    # Piccolo's transaction awaits pool.acquire() (-> _acquire) and pool.release(), which
    # runs asyncpg's reset query on the connection before it goes back.
    Pool._acquire = _timed_async("pool acquire", Pool._acquire)  # type: ignore[method-assign]
    Pool.release = _timed_async("pool release (reset)", Pool.release)  # type: ignore[method-assign]


def _patch_redis() -> None:
    from redis.asyncio.client import Redis

    original: Any = Redis.execute_command

    async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        watch = _Stopwatch(f"redis {str(args[0]).upper()}")
        try:
            return await original(self, *args, **options)
        finally:
            watch.stop()

    Redis.execute_command = execute_command  # type: ignore[method-assign]


class _TimedLog:
    """Stands in for the middleware's logger: the per-request log line, timed."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def info(self, *args: Any, **kwargs: Any) -> None:
        watch = _Stopwatch("request log line")
        try:
            self._log.info(*args, **kwargs)
        finally:
            watch.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def _patch_app() -> None:
    import importlib

    import litestar.response.base as response_base

    import app.identity.sessions as sessions
    import app.web.middleware as middleware
    import tenants.hosts as hosts

    hosts.resolve = _timed_async("hosts.resolve (tenant)", hosts.resolve)  # type: ignore[assignment]
    sessions.load = _timed_async("sessions.load", sessions.load)  # type: ignore[assignment]
    # The controller calls `<module>.list_subscribers` at call time; the function has lived in
    # actions and in queries, so whichever module holds it gets the stopwatch.
    for name in ("app.subscribers.queries", "app.subscribers.actions"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "list_subscribers"):
            timed = _timed_async("list_subscribers (action)", module.list_subscribers)
            setattr(module, "list_subscribers", timed)  # noqa: B010
    original_encode = getattr(response_base, "encode_json")  # noqa: B009

    def encode_json(*args: Any, **kwargs: Any) -> Any:
        watch = _Stopwatch("encode_json (msgspec)")
        try:
            return original_encode(*args, **kwargs)
        finally:
            watch.stop()

    setattr(response_base, "encode_json", encode_json)  # noqa: B010
    setattr(middleware, "log", _TimedLog(middleware.log))  # noqa: B010

    # Litestar runs a sync guard (on_tenant_host) through AsyncCallable, i.e. in anyio's thread
    # pool: the hop there and back is timed as a phase of its own.
    from litestar.utils.sync import AsyncCallable

    original_call = AsyncCallable.__call__

    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(self.func, "__name__", "?")
        watch = _Stopwatch(f"sync {name}() via thread pool")
        try:
            return await original_call(self, *args, **kwargs)
        finally:
            watch.stop()

    AsyncCallable.__call__ = call  # type: ignore[method-assign]


_patch_asyncpg()
_patch_redis()
_patch_app()

from app.asgi import app as _inner  # noqa: E402  (after the patches, on purpose)


async def _answer(send: Any, payload: object) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await _inner(scope, receive, send)
        return
    if scope["path"] == "/__bench__/trace":
        await _answer(send, {"records": _records, "statements": dict(_statements)})
        return
    if scope["path"] == "/__bench__/reset":
        _records.clear()
        _statements.clear()
        await _answer(send, {"ok": True})
        return
    record: dict[str, float] = {}
    token = _request.set(record)
    watch = _Stopwatch("request (whole ASGI app)")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        await _inner(scope, receive, send)
    finally:
        watch.stop()
        after = resource.getrusage(resource.RUSAGE_SELF)
        record["process CPU"] = (after.ru_utime - usage.ru_utime) + (
            after.ru_stime - usage.ru_stime
        )
        _records.append(record)
        _request.reset(token)
