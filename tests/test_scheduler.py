from __future__ import annotations

import datetime as dt
from typing import Any


async def test_each_slot_is_enqueued_once_even_with_two_schedulers(
    app: Any, monkeypatch: Any
) -> None:
    from workers import scheduler

    calls: list[str] = []

    async def selected() -> list[str]:
        calls.append("x")
        return []

    job = scheduler.Periodic(
        f"test-{dt.datetime.now().timestamp()}",
        dt.timedelta(hours=1),
        "identity.prune_sessions",
        selected,
    )
    monkeypatch.setattr(scheduler, "PERIODIC", {job.name: job})
    now = dt.datetime(2031, 5, 4, 10, 15, tzinfo=dt.UTC)
    assert await scheduler.tick(now) == [job.name]
    assert await scheduler.tick(now + dt.timedelta(minutes=30)) == []  # same slot, other scheduler
    assert await scheduler.tick(now + dt.timedelta(hours=1)) == [job.name]
    assert calls == ["x", "x"]


async def test_prune_sessions_job_runs_in_each_tenant(make_tenant: Any, worker: Any) -> None:
    from app.core.redis import get_redis, key
    from app.identity import sessions
    from app.identity.tasks import prune_sessions
    from tenants.registry import tenant_by_slug
    from tests.conftest import eventually

    tc = await make_tenant()
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    me = (await tc.get("/api/v1/auth/me")).json()
    index = key(tenant.id, "user-sessions", me["id"])
    await get_redis().sadd(index, "dead-session-hash")
    prune_sessions.send(str(tenant.id))

    async def pruned() -> bool:
        members = await get_redis().smembers(index)
        return "dead-session-hash" not in members and len(members) == 1

    assert await eventually(pruned)
    assert await sessions.prune(tenant, me["id"]) == 0
