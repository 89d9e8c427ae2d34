"""Telemetry (sequence numbers, counter wraps and resets, per-subscriber bytes), captive-portal
decisions and pages, link-test commands, and offline alerts."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import Any

import pytest

from tests.conftest import eventually, http
from tests.support.provisioning import active_subscriber, make_plan, make_subscriber, ok, staff
from tests.test_gateways_support import (
    app_of,
    enrolled,
    gateway_client,
    make_site,
    tenant_ref,
)

TOP = 2**64


def sample(seq: int, rx: int, tx: int, at: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": at.isoformat(),
        "wan_rx_bytes": rx,
        "wan_tx_bytes": tx,
        "boot_id": "boot-1",
        "users_authenticated": 3,
        "users_connected": 2,
        "cpu_percent": 12.5,
        "mem_percent": 40,
        **extra,
    }


def test_counter_delta() -> None:
    from app.gateways.telemetry import counter_delta

    limit = 12.5e9 * 10
    assert counter_delta(100, 250, 64, limit) == (150, False)
    assert counter_delta(TOP - 100, 50, 64, limit) == (150, False)  # a 64-bit wrap
    assert counter_delta(2**32 - 10, 5, 32, limit) == (15, False)  # a 32-bit wrap
    assert counter_delta(5_000_000_000, 1000, 64, limit) == (1000, True)  # a reset


async def test_telemetry_sequence_wraps_resets_and_usage(make_tenant: Any) -> None:
    from app.gateways.tables import SubscriberUsage
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    sub = await active_subscriber(tc)
    gw, secret = await enrolled(tc)
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    at = [t0 + dt.timedelta(seconds=10 * i) for i in range(8)]
    async with gateway_client(app_of(tc), secret) as c:
        first = [
            sample(1, TOP - 1000, 500, at[0]),
            sample(
                2,
                1000,
                1500,
                at[1],
                subscribers=[{"id": sub["id"], "rx_bytes": 700, "tx_bytes": 70}],
            ),
        ]
        r = ok(await c.post("/gateway/v1/telemetry", json={"samples": first}))
        assert r == {"accepted": 2, "duplicates": 0, "gaps": 0, "last_seq": 2}
        # A retry of the same batch is ignored; a jump in the sequence is a gap.
        again = ok(await c.post("/gateway/v1/telemetry", json={"samples": first}))
        assert again == {"accepted": 0, "duplicates": 2, "gaps": 0, "last_seq": 2}
        mac = sub["cpe_mac"].upper().replace(":", "-")
        later = [
            sample(
                5, 3000, 2500, at[2], subscribers=[{"mac": mac, "rx_bytes": 300, "tx_bytes": 30}]
            ),
            sample(6, 400, 100, at[3], boot_id="boot-2"),  # rebooted: counters start over
            sample(7, 100, 200, at[4]),  # went backwards without a reboot: a reset
        ]
        r = ok(await c.post("/gateway/v1/telemetry", json={"samples": later}))
        assert r == {"accepted": 3, "duplicates": 0, "gaps": 2, "last_seq": 7}
    items = ok(await tc.get(f"/api/v1/gateways/{gw['id']}/telemetry"))["items"]
    by_seq = {s["seq"]: s for s in items}
    assert set(by_seq) == {1, 2, 5, 6, 7}
    assert (by_seq[1]["rx_bytes"], by_seq[1]["tx_bytes"]) == (0, 0)  # a first sample: baseline
    assert (by_seq[2]["rx_bytes"], by_seq[2]["tx_bytes"]) == (2000, 1000)  # rx wrapped
    assert by_seq[2]["rx_bps"] == 2000 * 8 // 10
    assert by_seq[2]["interval_s"] == 10
    assert by_seq[5]["gap_before"] == 2
    assert (by_seq[5]["rx_bytes"], by_seq[5]["tx_bytes"]) == (2000, 1000)
    assert by_seq[6]["counter_reset"] is True
    assert (by_seq[6]["rx_bytes"], by_seq[6]["tx_bytes"]) == (400, 100)
    assert by_seq[7]["counter_reset"] is True
    assert (by_seq[7]["rx_bytes"], by_seq[7]["tx_bytes"]) == (100, 200)
    assert by_seq[7]["users_authenticated"] == 3
    assert by_seq[7]["cpu_percent"] == 12.5
    view = ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))
    assert view["telemetry_gaps"] == 2
    assert view["latest_sample"]["seq"] == 7
    async with tenant_scope(await tenant_ref(tc)):
        usage = await SubscriberUsage.select()
    assert sum(u["rx_bytes"] for u in usage) == 1000
    assert sum(u["tx_bytes"] for u in usage) == 100
    assert {str(u["subscriber"]) for u in usage} == {sub["id"]}


async def test_telemetry_validation(make_tenant: Any) -> None:
    tc = await make_tenant()
    _gw, secret = await enrolled(tc)
    now = dt.datetime.now(dt.UTC)
    async with gateway_client(app_of(tc), secret) as c:
        cases = [
            ({"samples": []}, "samples"),
            ({"samples": [sample(1, TOP, 0, now)]}, "wan_rx_bytes"),
            ({"samples": [sample(1, 1, 1, now, counter_bits=16)]}, "counter_bits"),
            ({"samples": [sample(1, 2**33, 1, now, counter_bits=32)]}, "wan_rx_bytes"),
            ({"samples": [sample(0, 1, 1, now)]}, "samples[0].seq"),
            ({"samples": [sample(1, -1, 1, now)]}, "samples[0].wan_rx_bytes"),
        ]
        for body, field in cases:
            r = await c.post("/gateway/v1/telemetry", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["errors"][0]["field"] == field, r.text
        r = ok(await c.post("/gateway/v1/telemetry", json={"samples": [sample(1, 1, 1, now)]}))
        assert r["accepted"] == 1


async def test_portal_decisions(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    paid = await active_subscriber(tc, plan["id"])
    late = await active_subscriber(tc, plan["id"])
    ok(await tc.patch(f"/api/v1/subscribers/{late['id']}", json={"language": "es"}))
    ok(await tc.post(f"/api/v1/subscribers/{late['id']}/suspend", json={"reason": "non_payment"}))
    admin = await active_subscriber(tc, plan["id"])
    ok(await tc.post(f"/api/v1/subscribers/{admin['id']}/suspend", json={"reason": "admin"}))
    pending = await make_subscriber(tc, plan["id"])
    _gw, secret = await enrolled(tc)
    base = f"http://{tc.slug}.localhost:8000/captive/"

    async def decide(c: Any, mac: str) -> dict[str, Any]:
        return ok(await c.post("/gateway/v1/portal", json={"mac": mac}))  # type: ignore[no-any-return]

    async with gateway_client(app_of(tc), secret) as c:
        assert await decide(c, paid["cpe_mac"]) == {"action": "allow", "url": None, "reason": None}
        assert await decide(c, late["cpe_mac"].upper()) == {
            "action": "redirect",
            "url": base + "non-payment?lang=es",
            "reason": "non_payment",
        }
        assert (await decide(c, admin["cpe_mac"]))["url"] == base + "suspended?lang=en"
        assert (await decide(c, "02:00:00:00:00:99"))["reason"] == "unknown"
        assert pending["cpe_mac"] is None
        r = await c.post("/gateway/v1/portal", json={"mac": "ff:ff:ff:ff:ff:ff"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "mac"
        # The gateway reports its WAN circuit down: active subscribers get that page.
        now = dt.datetime.now(dt.UTC)
        body = {"samples": [sample(1, 1, 1, now, circuit_ok=False)]}
        ok(await c.post("/gateway/v1/telemetry", json=body))
        assert await decide(c, paid["cpe_mac"]) == {
            "action": "redirect",
            "url": base + "circuit-failure?lang=en",
            "reason": "circuit_failure",
        }
        assert (await decide(c, late["cpe_mac"]))["reason"] == "non_payment"
    # A gateway serving another site knows nothing of these subscribers.
    _other, other_secret = await enrolled(tc, site_ids=[(await make_site(tc))["id"]])
    async with gateway_client(app_of(tc), other_secret) as c:
        assert (await decide(c, paid["cpe_mac"]))["reason"] == "unknown"


async def test_captive_pages_are_public_and_translated(two_tenants: Any) -> None:
    from app.core.i18n import _ as translate
    from app.core.i18n import use_language

    a, _b = two_tenants
    async with http(app_of(a), a.host) as anonymous:
        r = await anonymous.get("/captive/non-payment", params={"lang": "es"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["content-language"] == "es"
        assert '<html lang="es">' in r.text
        with use_language("es"):
            title = translate("Your service is suspended for non-payment")
            action = translate("Pay online")
        assert title in r.text
        assert action in r.text
        assert f"http://{a.slug}.localhost:8000/portal" in r.text
        assert f"WISP {a.slug}" in r.text
        for page in ("suspended", "data-cap", "circuit-failure", "unknown", "not-active"):
            assert (await anonymous.get(f"/captive/{page}")).status_code == 200
        r = await anonymous.get("/captive/../../etc/passwd")
        assert r.status_code == 404
        assert (await anonymous.get("/captive/nope")).status_code == 404
    async with http(app_of(a)) as base_host:
        assert (await base_host.get("/captive/non-payment")).status_code == 404


async def test_link_test_commands(two_tenants: Any) -> None:
    a, b = two_tenants
    sub = await active_subscriber(a)
    no_gateway = await active_subscriber(b)
    r = await b.post(f"/api/v1/subscribers/{no_gateway['id']}/link-test", json={})
    assert r.status_code == 409
    gw1, secret1 = await enrolled(a)
    gw2, secret2 = await enrolled(a)
    _gw_b, secret_b = await enrolled(b)
    path = f"/api/v1/subscribers/{sub['id']}/link-test"
    for body, field in (({"address": "not-an-ip"}, "address"), ({"count": 0}, "count")):
        r = await a.post(path, json=body)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == field
    sales, _ = await staff(a, "sales")
    assert (await sales.post(path, json={})).status_code == 403
    await sales.client.aclose()
    key = {"Idempotency-Key": secrets.token_hex(6)}
    asked = ok(await a.post(path, json={"count": 3}, headers=key), 202)
    assert ok(await a.post(path, json={"count": 3}, headers=key), 202)["id"] == asked["id"]
    pending = await make_subscriber(a, (await make_plan(a))["id"])
    r = await a.post(f"/api/v1/subscribers/{pending['id']}/link-test", json={})
    assert r.status_code == 409
    app = app_of(a)
    async with gateway_client(app, secret1) as g1, gateway_client(app, secret2) as g2:
        s1, s2 = await asyncio.gather(g1.get("/gateway/v1/state"), g2.get("/gateway/v1/state"))
        got = [s.json()["commands"] for s in (s1, s2)]
        assert sorted(len(c) for c in got) == [0, 1]  # exactly one gateway takes it
        taker, other = (g1, g2) if got[0] else (g2, g1)
        command = (got[0] or got[1])[0]
        assert command["id"] == asked["id"]
        assert command["mac"] == sub["cpe_mac"]
        assert command["count"] == 3
        # Repeated to its gateway until the result comes, never to the other one.
        assert [c["id"] for c in ok(await taker.get("/gateway/v1/state"))["commands"]] == [
            asked["id"]
        ]
        assert ok(await other.get("/gateway/v1/state"))["commands"] == []
        result = {"ok": True, "loss_percent": 0, "rtt_avg_ms": 2.5, "address": "10.0.0.9"}
        r = await other.post(f"/gateway/v1/commands/{asked['id']}/result", json=result)
        assert r.status_code == 404
        async with gateway_client(app, secret_b) as stranger:
            r = await stranger.post(f"/gateway/v1/commands/{asked['id']}/result", json=result)
            assert r.status_code == 404
        done = ok(await taker.post(f"/gateway/v1/commands/{asked['id']}/result", json=result))
        assert done["status"] == "done"
        again = {**result, "ok": False}
        assert (
            ok(await taker.post(f"/gateway/v1/commands/{asked['id']}/result", json=again))["status"]
            == "done"
        )
        assert ok(await taker.get("/gateway/v1/state"))["commands"] == []
    listed = ok(await a.get(f"/api/v1/subscribers/{sub['id']}/link-tests"))["items"]
    assert [t["status"] for t in listed] == ["done"]
    assert listed[0]["result"]["rtt_avg_ms"] == 2.5
    assert listed[0]["gateway_id"] in (gw1["id"], gw2["id"])


@pytest.mark.usefixtures("worker")
async def test_offline_gateway_mails_managers_once_per_outage(make_tenant: Any, inbox: Any) -> None:
    from app.gateways.tables import Gateway
    from tenants.jobs import PERIODIC
    from tenants.scope import tenant_scope
    from workers.scheduler import load_tasks

    load_tasks()
    _check_gateways = PERIODIC["check-gateways"].enqueue

    tc = await make_tenant()
    gw, secret = await enrolled(tc)
    tenant = await tenant_ref(tc)

    async def go_silent() -> None:
        async with tenant_scope(tenant):
            await Gateway.update(
                {Gateway.last_seen_at: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)}
            ).where(Gateway.id == gw["id"])

    def offline_mails() -> list[Any]:
        return [m for m in inbox.to(tc.email) if gw["name"] in str(m["Subject"])]

    await go_silent()
    assert await _check_gateways() >= 1
    mail = await inbox.wait_for(tc.email, subject=gw["name"])
    assert "offline" in str(mail["Subject"])
    assert ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))["status"] == "offline"
    for _ in range(2):
        await _check_gateways()
    await asyncio.sleep(2)
    assert len(offline_mails()) == 1
    # It calls in: online again at once. A second outage is a second mail.
    async with gateway_client(app_of(tc), secret) as c:
        ok(await c.get("/gateway/v1/state"))
    assert ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))["status"] == "online"
    await go_silent()
    await _check_gateways()
    await eventually(lambda: len(offline_mails()) == 2)
