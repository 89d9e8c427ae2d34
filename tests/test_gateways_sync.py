"""Desired-state sync: full and delta answers, site filtering, long polls woken through Redis,
acknowledgements, failures and per-subscriber enforcement."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.provisioning import active_subscriber, make_plan, make_subscriber, ok
from tests.test_gateways_support import (
    app_of,
    enrolled,
    entries_by_id,
    gateway_client,
    make_site,
)


async def test_full_then_delta_then_empty(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc, download_kbps=8000, upload_kbps=1000)
    s1 = await active_subscriber(tc, plan["id"])
    s2 = await active_subscriber(tc, plan["id"])
    _gw, secret = await enrolled(tc)
    async with gateway_client(app_of(tc), secret) as c:
        full = ok(await c.get("/gateway/v1/state"))
        assert full["full"] is True
        entries = entries_by_id(full)
        assert set(entries) == {s1["id"], s2["id"]}
        assert entries[s1["id"]] == {
            "id": s1["id"],
            "mac": s1["cpe_mac"],
            "enabled": True,
            "reason": None,
            "download_kbps": 8000,
            "upload_kbps": 1000,
        }
        assert full["portal"]["pages"]["non_payment"].endswith("/captive/non-payment")
        version = full["version"]
        empty = ok(await c.get("/gateway/v1/state", params={"since": version}))
        assert empty["full"] is False
        assert empty["subscribers"] == []
        assert empty["version"] == version
        ok(await tc.post(f"/api/v1/subscribers/{s1['id']}/suspend", json={"reason": "non_payment"}))
        delta = ok(await c.get("/gateway/v1/state", params={"since": version}))
        assert delta["full"] is False
        assert delta["version"] > version
        assert delta["subscribers"] == [
            {**entries[s1["id"]], "enabled": False, "reason": "non_payment"}
        ]
        # A version from the future (a restored cloud) gets the full state.
        again = ok(await c.get("/gateway/v1/state", params={"since": delta["version"] + 100}))
        assert again["full"] is True
        assert again["version"] == delta["version"]
        assert len(again["subscribers"]) == 2


async def test_validation(make_tenant: Any) -> None:
    tc = await make_tenant()
    _gw, secret = await enrolled(tc)
    async with gateway_client(app_of(tc), secret) as c:
        for params, field in (({"wait": 61}, "wait"), ({"since": -1}, "since")):
            r = await c.get("/gateway/v1/state", params=params)
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["field"] == field
        r = await c.post("/gateway/v1/ack", json={"version": 5})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "version"
        r = await c.post("/gateway/v1/ack", json={"failures": []})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "version"


async def test_a_gateway_with_sites_sees_only_subscribers_behind_them(make_tenant: Any) -> None:
    tc = await make_tenant()
    north, south = await make_site(tc), await make_site(tc)
    plan = await make_plan(tc)
    from tests.support.provisioning import install

    subs = {}
    for name, site in (("north", north), ("south", south)):
        sub = await make_subscriber(tc, plan["id"], site_id=site["id"])
        await install(tc, sub["installation_work_order_id"])
        subs[name] = sub
    nowhere = await active_subscriber(tc, plan["id"])
    gw, secret = await enrolled(tc, site_ids=[north["id"]])
    _all_gw, all_secret = await enrolled(tc)
    async with gateway_client(app_of(tc), secret) as c:
        first = ok(await c.get("/gateway/v1/state"))
        assert set(entries_by_id(first)) == {subs["north"]["id"]}
        ok(
            await tc.post(
                f"/api/v1/subscribers/{subs['south']['id']}/suspend", json={"reason": "admin"}
            )
        )
        delta = ok(await c.get("/gateway/v1/state", params={"since": first["version"]}))
        assert delta["subscribers"] == []
        assert delta["version"] > first["version"]
        # Serving another site changes the epoch: the next answer is full, not a delta.
        ok(await tc.patch(f"/api/v1/gateways/{gw['id']}", json={"site_ids": [south["id"]]}))
        params = {"since": delta["version"], "epoch": first["epoch"]}
        moved = ok(await c.get("/gateway/v1/state", params=params))
        assert moved["full"] is True
        assert moved["epoch"] == first["epoch"] + 1
        assert set(entries_by_id(moved)) == {subs["south"]["id"]}
    async with gateway_client(app_of(tc), all_secret) as c:
        everything = ok(await c.get("/gateway/v1/state"))
        assert set(entries_by_id(everything)) == {
            subs["north"]["id"],
            subs["south"]["id"],
            nowhere["id"],
        }


async def test_long_poll_wakes_within_a_second_of_a_change(make_tenant: Any) -> None:
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    _gw, secret = await enrolled(tc)
    async with gateway_client(app_of(tc), secret) as c:
        version = ok(await c.get("/gateway/v1/state"))["version"]
        started = time.monotonic()
        idle = ok(await c.get("/gateway/v1/state", params={"since": version, "wait": 1}))
        assert 0.9 < time.monotonic() - started < 3
        assert idle["subscribers"] == []
        waiting = asyncio.create_task(
            c.get("/gateway/v1/state", params={"since": version, "wait": 30})
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()
        ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/suspend", json={"reason": "admin"}))
        changed = time.monotonic()
        r = await asyncio.wait_for(waiting, 5)
        woke = time.monotonic() - changed
        assert r.status_code == 200
        assert woke < 1.0, woke
        assert [e["id"] for e in r.json()["subscribers"]] == [sub["id"]]
        assert r.json()["subscribers"][0]["reason"] == "admin"


async def test_another_tenants_change_does_not_answer_a_long_poll(two_tenants: Any) -> None:
    a, b = two_tenants
    sub_b = await active_subscriber(b)
    _gw, secret = await enrolled(a)
    async with gateway_client(app_of(a), secret) as c:
        version = ok(await c.get("/gateway/v1/state"))["version"]
        waiting = asyncio.create_task(
            c.get("/gateway/v1/state", params={"since": version, "wait": 2})
        )
        await asyncio.sleep(0.3)
        ok(await b.post(f"/api/v1/subscribers/{sub_b['id']}/suspend", json={"reason": "admin"}))
        r = await asyncio.wait_for(waiting, 5)
        assert r.json()["subscribers"] == []
        assert r.json()["version"] == version


async def test_ack_records_applied_version_failures_and_enforcement(make_tenant: Any) -> None:
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    other = await active_subscriber(tc)
    gw, secret = await enrolled(tc)
    enforcement = f"/api/v1/subscribers/{sub['id']}/enforcement"
    async with gateway_client(app_of(tc), secret) as c:
        state = ok(await c.get("/gateway/v1/state"))
        view = ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))
        assert view["applied_version"] == 0
        assert view["desired_version"] == state["version"]
        assert view["lag_versions"] == state["version"]
        assert view["lag_seconds"] > 0
        before = ok(await tc.get(enforcement))
        assert before["enforced"] is False
        assert before["gateways"][0]["gateway_id"] == gw["id"]
        failure = {"mac": other["cpe_mac"].upper(), "error": "tc: no space"}
        r = ok(
            await c.post(
                "/gateway/v1/ack", json={"version": state["version"], "failures": [failure]}
            )
        )
        assert r == {"applied_version": state["version"], "desired_version": state["version"]}
        view = ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))
        assert view["applied_version"] == state["version"]
        assert view["lag_versions"] == 0
        assert view["lag_seconds"] == 0
        assert view["failures"] == [{"mac": other["cpe_mac"], "error": "tc: no space", "id": None}]
        assert ok(await tc.get(enforcement))["enforced"] is True
        not_enforced = ok(await tc.get(f"/api/v1/subscribers/{other['id']}/enforcement"))
        assert not_enforced["enforced"] is False
        assert not_enforced["gateways"][0]["error"] == "tc: no space"
        # A change makes the subscriber unenforced until the gateway acknowledges it.
        ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/suspend", json={"reason": "admin"}))
        after = ok(await tc.get(enforcement))
        assert after["enforced"] is False
        assert after["desired_version"] > state["version"]
        # An older acknowledgement never moves the applied version back.
        ok(await c.post("/gateway/v1/ack", json={"version": after["desired_version"]}))
        stale = ok(await c.post("/gateway/v1/ack", json={"version": 1}))
        assert stale["applied_version"] == after["desired_version"]
        assert ok(await tc.get(enforcement))["enforced"] is True
        assert ok(await tc.get(f"/api/v1/subscribers/{other['id']}/enforcement"))["enforced"]


async def test_no_gateway_means_not_enforced(make_tenant: Any) -> None:
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    out = ok(await tc.get(f"/api/v1/subscribers/{sub['id']}/enforcement"))
    assert out["enforced"] is False
    assert out["gateways"] == []
    assert out["desired_version"] is not None
