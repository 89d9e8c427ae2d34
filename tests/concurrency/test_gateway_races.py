"""One gateway from many connections at once: state polls, acks out of order, telemetry, while
staff change the subscribers it enforces. No 5xx; the applied version only grows; a gateway
that follows `since` ends with exactly the desired state."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

from tests.billing_support import add_plan, add_subscriber, tenant_of
from tests.concurrency.support import at_once, rows, statuses, value
from tests.test_gateways_support import app_of, enrolled, gateway_client


async def test_concurrent_polls_acks_and_state_changes(make_tenant: Any) -> None:
    tc, other = await make_tenant(), await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "15.00")
    subs = [await add_subscriber(tenant, plan, dt.date(2026, 11, 1)) for _ in range(8)]
    _gw, secret = await enrolled(tc)
    _gw_b, secret_b = await enrolled(other)
    app = app_of(tc)
    clients = [gateway_client(app, secret) for _ in range(6)]
    other_gw = gateway_client(app, secret_b)
    try:
        # Every subscriber known to the network: suspended, so each has a desired state.
        for sid in subs:
            r = await tc.post(f"/api/v1/subscribers/{sid}/suspend", json={"reason": "admin"})
            assert r.status_code == 200, r.text
        first = (await clients[0].get("/gateway/v1/state")).json()
        assert len(first["subscribers"]) == 8
        rng = random.Random(7)
        acks = [rng.randint(0, first["version"]) for _ in range(16)]
        calls = []
        for i, version in enumerate(acks):
            client = clients[i % len(clients)]
            calls.append(client.post("/gateway/v1/ack", json={"version": version}))
            calls.append(client.get(f"/gateway/v1/state?since={rng.randint(0, version)}"))
        for sid in subs[::2]:  # new versions while the gateway acks the old ones
            calls.append(tc.post(f"/api/v1/subscribers/{sid}/resume", json={}))
        calls.append(clients[0].get(f"/gateway/v1/state?since={first['version']}&wait=20"))
        calls.append(other_gw.get("/gateway/v1/state"))
        responses = await at_once(calls)
        assert set(statuses(responses)) == {200}
        answered = [r.json() for r in responses[: 2 * len(acks)]]
        for i in range(0, len(answered), 2):
            ack, state = answered[i], answered[i + 1]
            assert ack["applied_version"] >= acks[i // 2]
            assert state["version"] >= first["version"]
        woken = responses[-2].json()  # the long poll saw the resumptions (or some of them)
        assert woken["version"] > first["version"] and woken["subscribers"]
        assert responses[-1].json()["subscribers"] == []  # the other tenant's gateway: none

        applied = await value(tenant, "SELECT applied_version FROM gateway")
        assert applied == max(acks)
        recorded = [r["version"] for r in await rows(tenant, "SELECT version FROM gateway_ack")]
        assert max(recorded) == max(acks) and len(recorded) == len(set(recorded))

        # Resuming from its version, the gateway converges on the desired state.
        held = {e["id"]: e for e in first["subscribers"]}
        version = first["version"]
        while True:
            delta = (await clients[1].get(f"/gateway/v1/state?since={version}")).json()
            if delta["version"] == version:
                break
            held.update({e["id"]: e for e in delta["subscribers"]})
            version = delta["version"]
        r = await clients[1].post("/gateway/v1/ack", json={"version": version})
        assert r.json() == {"applied_version": version, "desired_version": version}
        enabled = {k for k, e in held.items() if e["enabled"]}
        assert enabled == {str(s) for s in subs[::2]}
        for sid in subs:
            r = await tc.get(f"/api/v1/subscribers/{sid}/enforcement")
            assert r.status_code == 200 and r.json()["enforced"], r.text
    finally:
        await asyncio.gather(*(c.aclose() for c in [*clients, other_gw]))
