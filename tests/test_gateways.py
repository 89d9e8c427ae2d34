"""Gateways: creation, token enrollment (races, reuse, expiry, revocation), secrets (rotation,
revocation), and isolation between tenants on every gateway and staff route."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from typing import Any

from tests.conftest import http
from tests.support.provisioning import active_subscriber, audit_actions, intruder, ok, staff
from tests.test_gateways_support import (
    app_of,
    enroll,
    enrolled,
    gateway_client,
    new_gateway,
    tenant_ref,
)


async def test_create_shows_token_once_and_stores_only_its_hash(make_tenant: Any) -> None:
    from app.gateways.registry import GatewayTokenLookup
    from app.gateways.tables import GatewayEnrollmentToken
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    gw = await new_gateway(tc)
    token = gw["enrollment_token"]
    assert token.startswith("wgt_")
    assert len(token) >= 4 + 32  # 24 random bytes, url-safe: 192 bits
    assert gw["status"] == "pending"
    expires = dt.datetime.fromisoformat(gw["expires_at"].replace("Z", "+00:00"))
    assert (
        dt.timedelta(hours=23, minutes=59)
        < expires - dt.datetime.now(dt.UTC)
        <= dt.timedelta(hours=24)
    )
    digest = hashlib.sha256(token.encode()).hexdigest()
    async with tenant_scope(await tenant_ref(tc)):
        rows = await GatewayEnrollmentToken.select()
    assert [r["token_hash"] for r in rows] == [digest]
    assert await GatewayTokenLookup.exists().where(GatewayTokenLookup.token_hash == digest)
    again = ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))
    assert "enrollment_token" not in again
    assert again["enrollment_expires_at"] is not None
    assert "gateway.created" in await audit_actions(tc, gw["id"])


async def test_create_validates_and_honours_idempotency_key(make_tenant: Any) -> None:
    tc = await make_tenant()
    r = await tc.post("/api/v1/gateways", json={"name": "  "})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"
    r = await tc.post("/api/v1/gateways", json={"name": "x", "site_ids": ["nope"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "site_ids"
    assert ok(await tc.get("/api/v1/gateways"))["items"] == []
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = ok(await tc.post("/api/v1/gateways", json={"name": "NOC"}, headers=key), 201)
    second = ok(await tc.post("/api/v1/gateways", json={"name": "NOC"}, headers=key), 201)
    assert second["id"] == first["id"]
    assert first["enrollment_token"] and second["enrollment_token"] is None  # shown once
    assert len(ok(await tc.get("/api/v1/gateways"))["items"]) == 1


async def test_roles(make_tenant: Any) -> None:
    tc = await make_tenant()
    gw = await new_gateway(tc)
    tech, _ = await staff(tc, "technical")
    sales, _ = await staff(tc, "sales")
    cs, _ = await staff(tc, "customer_service")
    assert (await tech.post("/api/v1/gateways", json={"name": "T"})).status_code == 201
    assert (await sales.post("/api/v1/gateways", json={"name": "S"})).status_code == 403
    assert (await sales.get("/api/v1/gateways")).status_code == 403
    assert (await cs.get(f"/api/v1/gateways/{gw['id']}")).status_code == 200
    assert (await cs.post(f"/api/v1/gateways/{gw['id']}/revoke")).status_code == 403
    for c in (tech, sales, cs):
        await c.client.aclose()


async def test_concurrent_enrollments_with_one_token_have_exactly_one_winner(
    make_tenant: Any,
) -> None:
    tc = await make_tenant()
    gw = await new_gateway(tc)
    results = await asyncio.gather(*(enroll(app_of(tc), gw["enrollment_token"]) for _ in range(10)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [401] * 9, codes
    for r in results:
        if r.status_code == 401:
            assert r.headers["content-type"].startswith("application/problem+json")
    winner = next(r.json() for r in results if r.status_code == 200)
    assert winner["gateway_id"] == gw["id"]
    assert winner["secret"].startswith("wgs_")
    assert winner["tenant"] == tc.slug
    # A used token is dead for good.
    assert (await enroll(app_of(tc), gw["enrollment_token"])).status_code == 401
    view = ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))
    assert view["status"] == "online"
    assert view["hardware_id"] == "hw-1"
    assert view["enrollment_expires_at"] is None


async def test_expired_token_is_refused(make_tenant: Any) -> None:
    from app.gateways.tables import GatewayEnrollmentToken
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    gw = await new_gateway(tc)
    async with tenant_scope(await tenant_ref(tc)):
        # Only the tenant's row (the authority) is changed; the public lookup still matches.
        await GatewayEnrollmentToken.update(
            {GatewayEnrollmentToken.expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
        ).where(GatewayEnrollmentToken.gateway == gw["id"])
    r = await enroll(app_of(tc), gw["enrollment_token"])
    assert r.status_code == 401
    assert ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))["status"] == "pending"


async def test_revoked_token_is_refused_and_a_new_one_works(make_tenant: Any) -> None:
    tc = await make_tenant()
    gw = await new_gateway(tc)
    r = await tc.delete(f"/api/v1/gateways/{gw['id']}/enrollment-token")
    assert r.status_code == 204
    assert (await enroll(app_of(tc), gw["enrollment_token"])).status_code == 401
    fresh = ok(await tc.post(f"/api/v1/gateways/{gw['id']}/enrollment-token"), 201)
    # Issuing a token kills the previous unused one.
    newer = ok(await tc.post(f"/api/v1/gateways/{gw['id']}/enrollment-token"), 201)
    assert (await enroll(app_of(tc), fresh["enrollment_token"])).status_code == 401
    r = await enroll(app_of(tc), newer["enrollment_token"])
    assert r.status_code == 200
    assert r.json()["gateway_id"] == gw["id"]


async def test_reflashed_gateway_reclaims_its_identity(make_tenant: Any) -> None:
    tc = await make_tenant()
    gw, old_secret = await enrolled(tc)
    token = ok(await tc.post(f"/api/v1/gateways/{gw['id']}/enrollment-token"), 201)
    r = await enroll(app_of(tc), token["enrollment_token"], hardware_id="hw-2")
    assert r.status_code == 200
    assert r.json()["gateway_id"] == gw["id"]
    async with gateway_client(app_of(tc), old_secret) as old:
        assert (await old.get("/gateway/v1/state")).status_code == 401
    async with gateway_client(app_of(tc), r.json()["secret"]) as new:
        assert (await new.get("/gateway/v1/state")).status_code == 200
    assert ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))["hardware_id"] == "hw-2"


async def test_secret_is_required_and_checked(make_tenant: Any) -> None:
    tc = await make_tenant()
    _gw, secret = await enrolled(tc)
    app = app_of(tc)
    async with http(app) as anonymous:
        r = await anonymous.get("/gateway/v1/state")
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
    for bad in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "wgs_x", "Basic abc", ""):
        async with gateway_client(app, bad) as c:
            assert (await c.get("/gateway/v1/state")).status_code == 401
    async with gateway_client(app, secret) as c:
        assert (await c.get("/gateway/v1/state")).status_code == 200


async def test_revoking_a_gateway_ends_its_secret_at_once(make_tenant: Any) -> None:
    tc = await make_tenant()
    gw, secret = await enrolled(tc)
    async with gateway_client(app_of(tc), secret) as c:
        assert (await c.get("/gateway/v1/state")).status_code == 200
        waiting = asyncio.create_task(c.get("/gateway/v1/state", params={"since": 0, "wait": 20}))
        await asyncio.sleep(0.3)
        view = ok(await tc.post(f"/api/v1/gateways/{gw['id']}/revoke"))
        assert view["status"] == "revoked"
        # Even the request that was already waiting is refused when it wakes.
        r = await asyncio.wait_for(waiting, 5)
        assert r.status_code == 401
        assert (await c.get("/gateway/v1/state")).status_code == 401
        assert (await c.post("/gateway/v1/ack", json={"version": 0})).status_code == 401
    assert "gateway.revoked" in await audit_actions(tc, gw["id"])
    # A new token brings the same gateway back (a replaced or recovered box).
    token = ok(await tc.post(f"/api/v1/gateways/{gw['id']}/enrollment-token"), 201)
    r = await enroll(app_of(tc), token["enrollment_token"])
    assert r.status_code == 200
    assert r.json()["gateway_id"] == gw["id"]
    assert ok(await tc.get(f"/api/v1/gateways/{gw['id']}"))["status"] == "online"


async def test_rotation_keeps_the_old_secret_for_a_short_overlap(make_tenant: Any) -> None:
    from app.gateways.tables import Gateway
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    gw, old = await enrolled(tc)
    app = app_of(tc)
    async with gateway_client(app, old) as c:
        r = await c.post("/gateway/v1/rotate")
    assert r.status_code == 200
    new = r.json()["secret"]
    until = dt.datetime.fromisoformat(r.json()["previous_valid_until"].replace("Z", "+00:00"))
    assert dt.timedelta(minutes=9) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=10)
    for secret in (old, new):
        async with gateway_client(app, secret) as c:
            assert (await c.get("/gateway/v1/state")).status_code == 200
    async with tenant_scope(await tenant_ref(tc)):
        await Gateway.update(
            {Gateway.previous_secret_expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
        ).where(Gateway.id == gw["id"])
    async with gateway_client(app, old) as c:
        assert (await c.get("/gateway/v1/state")).status_code == 401
    async with gateway_client(app, new) as c:
        assert (await c.get("/gateway/v1/state")).status_code == 200
    assert "gateway.secret_rotated" in await audit_actions(tc, gw["id"])


async def test_tenant_fields_in_bodies_and_queries_are_ignored(two_tenants: Any) -> None:
    a, b = two_tenants
    tb = await tenant_ref(b)
    sub_b = await active_subscriber(b)
    gw = await new_gateway(a)
    r = await enroll(
        app_of(a), gw["enrollment_token"], tenant=b.slug, tenant_id=str(tb.id), schema=tb.schema
    )
    assert r.status_code == 200
    assert r.json()["tenant"] == a.slug
    secret = r.json()["secret"]
    assert ok(await a.get(f"/api/v1/gateways/{gw['id']}"))["status"] == "online"
    assert ok(await b.get("/api/v1/gateways"))["items"] == []
    async with gateway_client(app_of(a), secret) as c:
        state = ok(await c.get("/gateway/v1/state", params={"tenant": b.slug}))
        assert sub_b["id"] not in {e["id"] for e in state["subscribers"]}
        ack = ok(await c.post("/gateway/v1/ack", json={"version": 0, "tenant": b.slug}))
        assert ack["desired_version"] == 0  # A has no changes yet; B has one


async def test_a_token_or_secret_works_only_on_its_own_or_the_base_host(two_tenants: Any) -> None:
    a, b = two_tenants
    app = app_of(a)
    gw = await new_gateway(a)
    assert (await enroll(app, gw["enrollment_token"], host=b.host)).status_code == 401
    r = await enroll(app, gw["enrollment_token"], host=a.host)
    assert r.status_code == 200
    secret = r.json()["secret"]
    async with gateway_client(app, secret, host=b.host) as on_b:
        assert (await on_b.get("/gateway/v1/state")).status_code == 401
        r = await on_b.post("/gateway/v1/telemetry", json={"samples": []})
        assert r.status_code == 401
    async with gateway_client(app, secret) as on_base:
        assert (await on_base.get("/gateway/v1/state")).status_code == 200
    async with gateway_client(app, secret, host=a.host) as on_a:
        assert (await on_a.get("/gateway/v1/state")).status_code == 200
    # B's own gateway sees none of A's.
    _gw_b, secret_b = await enrolled(b)
    sub_a = await active_subscriber(a)
    async with gateway_client(app, secret_b) as c:
        state = ok(await c.get("/gateway/v1/state"))
        assert sub_a["id"] not in {e["id"] for e in state["subscribers"]}
        assert state["version"] == 0
        decision = ok(await c.post("/gateway/v1/portal", json={"mac": sub_a["cpe_mac"]}))
        assert decision["reason"] == "unknown"
        r = await c.post("/gateway/v1/ack", json={"version": 1})
        assert r.status_code == 422  # B never had a version 1, whatever A has


async def test_staff_routes_refuse_another_tenants_ids_and_sessions(two_tenants: Any) -> None:
    from app.gateways.tables import Gateway
    from tenants.scope import tenant_scope

    a, b = two_tenants
    gw, _secret = await enrolled(a)
    sub = await active_subscriber(a)
    one = f"/api/v1/gateways/{gw['id']}"
    calls: list[tuple[str, str, Any]] = [
        ("GET", one, None),
        ("PATCH", one, {"name": "stolen"}),
        ("POST", one + "/enrollment-token", None),
        ("DELETE", one + "/enrollment-token", None),
        ("POST", one + "/revoke", None),
        ("GET", one + "/telemetry", None),
        ("POST", f"/api/v1/subscribers/{sub['id']}/link-test", {}),
        ("GET", f"/api/v1/subscribers/{sub['id']}/link-tests", None),
        ("GET", f"/api/v1/subscribers/{sub['id']}/enforcement", None),
    ]
    stranger = await intruder(a, b)
    for method, path, body in calls:
        for who, allowed in ((b, {404}), (stranger, {401})):
            kwargs = {"json": body} if body is not None else {}
            r = await getattr(who, method.lower())(path, **kwargs)
            assert r.status_code in allowed, (method, path, who is stranger, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    r = await stranger.post("/api/v1/gateways", json={"name": "x"})
    assert r.status_code == 401
    await stranger.client.aclose()
    assert ok(await b.get("/api/v1/gateways"))["items"] == []
    async with tenant_scope(await tenant_ref(a)):
        row = await Gateway.select().where(Gateway.id == gw["id"]).first()
    assert row["name"] == gw["name"]
    assert row["revoked_at"] is None
    assert ok(await a.get(f"/api/v1/subscribers/{sub['id']}/link-tests"))["items"] == []
