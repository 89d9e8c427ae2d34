"""The desired-state log: versions, deltas, notifications, and what each change records."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from tests.support.provisioning import (
    active_subscriber,
    make_plan,
    make_subscriber,
    new_mac,
    ok,
    tenant_ref,
)


async def log_for(tc: Any, subscriber_id: str) -> list[dict[str, Any]]:
    from tenants.scope import tenant_scope

    async with tenant_scope(await tenant_ref(tc)) as scope:
        rows = await scope.connection.fetch(
            "SELECT version, mac, enabled, reason, download_kbps, upload_kbps"
            " FROM netstate_change WHERE subscriber_id = $1 ORDER BY version",
            uuid.UUID(subscriber_id),
        )
    return [dict(r) for r in rows]


async def test_each_change_of_what_the_network_enforces_is_logged(make_tenant: Any) -> None:
    tc = await make_tenant()
    slow = await make_plan(tc, download_kbps=5000, upload_kbps=500)
    fast = await make_plan(tc, download_kbps=20000, upload_kbps=2000)
    sub = await make_subscriber(tc, slow["id"])
    assert await log_for(tc, sub["id"]) == []  # pending: nothing for the gateways yet
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    ok(await tc.post(f"{wo}/schedule", json={"install_date": "2030-01-01"}))
    ok(await tc.post(f"{wo}/start"))
    mac = new_mac()
    ok(await tc.post(f"{wo}/authenticate-cpe", json={"cpe_mac": mac}))
    assert await log_for(tc, sub["id"]) == []
    ok(await tc.post(f"{wo}/activate"))
    path = f"/api/v1/subscribers/{sub['id']}"
    ok(await tc.post(f"{path}/suspend", json={"reason": "admin"}))
    ok(await tc.post(f"{path}/resume"))
    ok(await tc.post(f"{path}/plan-changes", json={"plan_id": fast["id"]}), 201)
    repair = ok(
        await tc.post("/api/v1/work-orders", json={"subscriber_id": sub["id"], "kind": "repair"}),
        201,
    )
    rpath = f"/api/v1/work-orders/{repair['id']}"
    ok(await tc.post(f"{rpath}/schedule", json={"install_date": "2030-01-01"}))
    ok(await tc.post(f"{rpath}/start"))
    new = new_mac()
    ok(await tc.post(f"{rpath}/authenticate-cpe", json={"cpe_mac": new}))
    ok(await tc.post(f"{path}/cancel"))
    log = await log_for(tc, sub["id"])
    assert [(e["mac"], e["enabled"], e["reason"], e["download_kbps"]) for e in log] == [
        (mac, True, None, 5000),  # activated
        (mac, False, "admin", 5000),  # suspended
        (mac, True, None, 5000),  # resumed
        (mac, True, None, 20000),  # plan change took effect
        (new, True, None, 20000),  # CPE replaced
        (new, False, None, 20000),  # cancelled
    ]
    versions = [e["version"] for e in log]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


async def test_versions_are_strictly_increasing_under_concurrency(make_tenant: Any) -> None:
    from app import netstate
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    plan = await make_plan(tc)
    subs = [await active_subscriber(tc, plan["id"]) for _ in range(6)]
    tenant = await tenant_ref(tc)
    async with tenant_scope(tenant):
        start = (await netstate.current_state()).version
    await asyncio.gather(
        *(
            tc.post(f"/api/v1/subscribers/{s['id']}/suspend", json={"reason": "non_payment"})
            for s in subs
        )
    )
    async with tenant_scope(tenant) as scope:
        versions = [
            r["version"]
            for r in await scope.connection.fetch(
                "SELECT version FROM netstate_change WHERE version > $1 ORDER BY version", start
            )
        ]
        delta = await netstate.current_state(since=start)
        full = await netstate.current_state()
    assert versions == list(range(start + 1, start + 7))  # no gaps, no repeats
    assert delta.version == full.version == start + 6
    assert {str(e.subscriber_id) for e in delta.entries} == {s["id"] for s in subs}
    assert all(not e.enabled and e.reason == "non_payment" for e in delta.entries)
    assert len(full.entries) == 6
    async with tenant_scope(tenant):
        empty = await netstate.current_state(since=full.version)
    assert (empty.version, empty.entries) == (full.version, [])


async def test_record_skips_what_the_log_already_says(make_tenant: Any) -> None:
    from app import netstate
    from app.plans.access import access_plan
    from app.subscribers.access import access_subscriber
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    sub = await active_subscriber(tc)
    async with tenant_scope(await tenant_ref(tc)):
        row = await access_subscriber(sub["id"])
        assert await netstate.record(row, await access_plan(row["plan"])) is None


async def test_the_log_is_append_only(make_tenant: Any) -> None:
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    await active_subscriber(tc)
    for statement in (
        "UPDATE netstate_change SET enabled = false",
        "DELETE FROM netstate_change",
        "TRUNCATE netstate_change",
        "DELETE FROM subscriber_status_change",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_scope(await tenant_ref(tc)) as scope:
                await scope.connection.execute(statement)


async def test_gateways_are_woken_after_commit_on_their_tenants_channel(
    two_tenants: Any,
) -> None:
    from app import netstate
    from app.core.redis import get_redis

    a, b = two_tenants
    plan = await make_plan(a)
    sub = await make_subscriber(a, plan["id"])
    ta, tb = await tenant_ref(a), await tenant_ref(b)
    assert netstate.channel(ta.id) == f"wisp:{ta.id}:netstate"
    pubsub = get_redis().pubsub()
    await pubsub.subscribe(netstate.channel(ta.id), netstate.channel(tb.id))
    for _ in range(2):
        await pubsub.get_message(timeout=1)  # the subscribe confirmations
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    ok(await a.post(f"{wo}/schedule", json={"install_date": "2030-01-01"}))
    ok(await a.post(f"{wo}/start"))
    ok(await a.post(f"{wo}/authenticate-cpe", json={"cpe_mac": new_mac()}))
    # A refused change publishes nothing.
    assert (
        await a.post(f"{wo}/activate", json={"occurred_at": "2999-01-01T00:00:00Z"})
    ).status_code == 422
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5) is None
    ok(await a.post(f"{wo}/activate"))
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
    assert message is not None
    assert message["channel"] == netstate.channel(ta.id)
    log = await log_for(a, sub["id"])
    assert message["data"] == str(log[-1]["version"])
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5) is None
    await pubsub.aclose()


async def test_tenants_have_their_own_versions(two_tenants: Any) -> None:
    from app import netstate
    from tenants.scope import tenant_scope

    a, b = two_tenants
    await active_subscriber(a)
    await active_subscriber(a)
    async with tenant_scope(await tenant_ref(b)):
        state_b = await netstate.current_state()
    assert (state_b.version, state_b.entries) == (0, [])
    async with tenant_scope(await tenant_ref(a)):
        state_a = await netstate.current_state()
    assert state_a.version == 2
