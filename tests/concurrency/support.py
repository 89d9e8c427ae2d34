"""Helpers for the concurrency suite: many clients at once through the real app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

import httpx

from tenants.registry import TenantRef
from tenants.scope import tenant_scope


async def at_once(calls: Iterable[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Start every call together and wait for all; a server error fails the test with its
    body (a deadlock or a lock timeout would surface here as a 500)."""
    responses = await asyncio.gather(*calls)
    errors = [
        (r.request.url.path, r.status_code, r.text) for r in responses if r.status_code >= 500
    ]
    assert not errors, errors
    return list(responses)


def statuses(responses: Iterable[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def rows(tenant: TenantRef, sql: str, *args: Any) -> list[Any]:
    async with tenant_scope(tenant) as scope:
        return list(await scope.connection.fetch(sql, *args))


async def value(tenant: TenantRef, sql: str, *args: Any) -> Any:
    async with tenant_scope(tenant) as scope:
        return await scope.connection.fetchval(sql, *args)


async def assert_desired_state_matches(tenant: TenantRef) -> None:
    """Every subscriber the network was told about has, as its latest desired-state entry,
    exactly what its row says now (a cancelled one: disabled, no reason): no racing writer
    left an older state under a newer version."""
    found = await rows(
        tenant,
        "SELECT s.id, s.status, s.suspension_reason, s.cpe_mac, p.download_kbps,"
        " c.enabled, c.reason, c.mac, c.download_kbps AS c_down"
        " FROM subscriber s JOIN rate_plan p ON p.id = s.plan"
        " JOIN LATERAL (SELECT * FROM netstate_change n WHERE n.subscriber_id = s.id"
        "   ORDER BY n.version DESC LIMIT 1) c ON true"
        " WHERE s.status <> 'pending_installation'",
    )
    for r in found:
        expected = (
            r["status"] == "active",
            r["suspension_reason"] if r["status"] == "suspended" else None,
            r["cpe_mac"],
            r["download_kbps"],
        )
        assert (r["enabled"], r["reason"], r["mac"], r["c_down"]) == expected, dict(r)


class Holder:
    """A plain connection of the test's own that holds row locks in a tenant's schema, so a
    test can stop the app's transactions at a chosen point and interleave them on purpose."""

    def __init__(self, tenant: TenantRef) -> None:
        self.tenant = tenant
        self.conn: Any = None
        self.pid = 0

    async def __aenter__(self) -> Holder:
        import asyncpg

        from app.core.config import get_settings

        self.conn = await asyncpg.connect(get_settings().database_url)
        self.pid = await self.conn.fetchval("SELECT pg_backend_pid()")
        await self.conn.execute(f'BEGIN; SET LOCAL search_path TO "{self.tenant.schema}"')
        return self

    async def lock(self, sql: str, *args: Any) -> None:
        await self.conn.fetch(sql, *args)

    async def release(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            await self.conn.execute("ROLLBACK")

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
        await self.conn.close()


async def blocked_by(pid: int, timeout: float = 15.0) -> int:
    """The backend that waits for a lock `pid` holds (once one does)."""
    from app.core.db import DB

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with DB.pool.acquire() as conn:  # type: ignore[union-attr]
            found = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) LIMIT 1",
                pid,
            )
        if found:
            return int(found)
        assert asyncio.get_running_loop().time() < deadline, f"nothing waited for {pid}"
        await asyncio.sleep(0.02)


async def waits_or_done(task: asyncio.Task[Any], pid: int, timeout: float = 15.0) -> None:
    """Until `task` is finished or waits for a lock that `pid` holds."""
    from app.core.db import DB

    deadline = asyncio.get_running_loop().time() + timeout
    while not task.done():
        async with DB.pool.acquire() as conn:  # type: ignore[union-attr]
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid
            ):
                return
        assert asyncio.get_running_loop().time() < deadline, "neither finished nor waited"
        await asyncio.sleep(0.02)
