"""Redis restarted under a signed-in office and under a long-polling gateway.

Sessions, throttles and gateway wake-ups live in Redis. While it is down a request answers
503 (never 500) and changes nothing; once it is back the same session works (the server keeps
an append-only file), a write retried with its Idempotency-Key happens once, and a gateway
that was long-polling gets the change it missed and resumes from its version.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from typing import Any

import httpx

from app.core.audit import SYSTEM
from app.subscribers import status as subscriber_status
from tests.billing_support import add_plan, add_subscriber, tenant_of
from tests.concurrency.support import value
from tests.faults.stack import Stack
from tests.faults.support import assert_unavailable, retrying


async def test_redis_restart_during_session_use(stack: Stack) -> None:
    tc = await stack.tenant()
    tenant = await tenant_of(tc)
    plan = (
        await tc.post(
            "/api/v1/rate-plans",
            json={"name": "Basic", "download_kbps": 5000, "upload_kbps": 500, "monthly_price": "9"},
        )
    ).json()
    key = {"Idempotency-Key": secrets.token_hex(8)}
    body = {
        "name": "Ana",
        "email": f"ana-{secrets.token_hex(3)}@example.com",
        "plan_id": plan["id"],
    }

    stack.redis.stop()
    try:
        assert_unavailable(await tc.get("/api/v1/subscribers"))
        assert_unavailable(await tc.post("/api/v1/subscribers", json=body, headers=key))
        assert_unavailable(await tc.get("/api/v1/auth/me"))
        assert await value(tenant, "SELECT count(*) FROM subscriber") == 0
    finally:
        stack.redis.start()

    # The same session, no new sign-in; the write retried until it goes through, once.
    created = await retrying(lambda: tc.post("/api/v1/subscribers", json=body, headers=key))
    assert created.status_code == 201, created.text
    replay = await tc.post("/api/v1/subscribers", json=body, headers=key)
    assert replay.json()["id"] == created.json()["id"]
    assert await value(tenant, "SELECT count(*) FROM subscriber") == 1
    me = await tc.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["email"] == tc.email


async def test_redis_restart_during_a_long_poll(stack: Stack) -> None:
    tc = await stack.tenant()
    tenant = await tenant_of(tc)
    sid = await add_subscriber(tenant, await add_plan(tenant, "15.00"), dt.date(2026, 11, 1))
    r = await retrying(
        lambda: tc.post(f"/api/v1/subscribers/{sid}/suspend", json={"reason": "admin"})
    )
    assert r.status_code == 200, r.text
    token = (await tc.post("/api/v1/gateways", json={"name": "GW"})).json()["enrollment_token"]
    async with stack.client() as base:
        secret = (await base.post("/gateway/v1/enroll", json={"token": token})).json()["secret"]
    gateway = stack.client(tc.host)
    gateway.headers["Authorization"] = f"Bearer {secret}"
    try:
        start = (await gateway.get("/gateway/v1/state")).json()
        assert [e["enabled"] for e in start["subscribers"]] == [False]

        # Redis goes away under a waiting gateway; the change made meanwhile (straight
        # through the action: staff sessions need Redis) still reaches it, by polling.
        poll = asyncio.create_task(_state(gateway, start["version"], 25))
        await asyncio.sleep(0.5)
        stack.redis.stop()
        try:
            await asyncio.sleep(0.5)
            await subscriber_status.resume(tenant, sid, SYSTEM)
            answer, took = await poll
            assert took < 10, took  # not the full 25 s wait
            assert answer["version"] > start["version"]
            assert [e["enabled"] for e in answer["subscribers"]] == [True]
        finally:
            stack.redis.start()

        # Back up: a waiting gateway is woken by the next change, and resumes from there.
        poll = asyncio.create_task(_state(gateway, answer["version"], 25))
        await asyncio.sleep(1.5)  # the wake-up subscription is back within a second
        r = await retrying(
            lambda: tc.post(f"/api/v1/subscribers/{sid}/suspend", json={"reason": "admin"})
        )
        assert r.status_code == 200, r.text
        woken, took = await poll
        assert took < 10, took
        assert woken["version"] > answer["version"]
        assert [e["enabled"] for e in woken["subscribers"]] == [False]
        after, _took = await _state(gateway, woken["version"], 0)
        assert (after["version"], after["subscribers"]) == (woken["version"], [])
        ack = await gateway.post("/gateway/v1/ack", json={"version": woken["version"]})
        assert ack.json()["applied_version"] == woken["version"]
    finally:
        await gateway.aclose()


async def _state(client: httpx.AsyncClient, since: int, wait: int) -> tuple[Any, float]:
    started = time.monotonic()
    r = await client.get(f"/gateway/v1/state?since={since}&wait={wait}")
    assert r.status_code == 200, r.text
    return r.json(), time.monotonic() - started
