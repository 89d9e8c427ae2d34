"""Isolation between tenants: hosts, sessions, the scope, jobs, concurrency."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import asyncpg
import pytest

from tests.conftest import eventually, http


async def test_query_outside_scope_fails_loudly(app: Any) -> None:
    from app.identity.tables import StaffUser

    with pytest.raises(asyncpg.UndefinedTableError):
        await StaffUser.select()


async def test_scope_sets_search_path_for_its_transaction_only(two_tenants: Any) -> None:
    from app.core.db import DB
    from app.identity.tables import StaffUser
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    a, b = two_tenants
    ta, tb = await tenant_by_slug(a.slug), await tenant_by_slug(b.slug)
    assert ta
    assert tb
    async with tenant_scope(ta):
        emails = [r["email"] for r in await StaffUser.select(StaffUser.email)]
    assert emails == [a.email]
    async with tenant_scope(tb):
        emails = [r["email"] for r in await StaffUser.select(StaffUser.email)]
    assert emails == [b.email]
    # Connections go back to the pool with no tenant on their search path.
    assert DB.pool is not None
    async with DB.pool.acquire() as conn:
        assert await conn.fetchval("SHOW search_path") == "wisp_no_tenant"


async def test_session_cookie_is_refused_on_another_tenants_host(two_tenants: Any) -> None:
    a, b = two_tenants
    cookie = a.client.cookies.get("wisp_session")
    assert cookie
    async with http(b.client._transport.app, b.host) as stranger:
        r = await stranger.get("/api/v1/auth/me", headers={"Cookie": f"wisp_session={cookie}"})
        assert r.status_code == 401
    async with http(a.client._transport.app, a.host) as same_host:
        r = await same_host.get("/api/v1/auth/me", headers={"Cookie": f"wisp_session={cookie}"})
        assert r.status_code == 200  # the same cookie is good on its own host


async def test_session_cookie_is_host_only(two_tenants: Any) -> None:
    a, _ = two_tenants
    r = await a.post(
        "/api/v1/auth/login", json={"email": a.email, "password": "correct horse battery staple"}
    )
    set_cookie = r.headers["set-cookie"].lower()
    assert "domain=" not in set_cookie
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie


async def test_user_of_one_tenant_cannot_sign_in_on_another(two_tenants: Any) -> None:
    a, b = two_tenants
    r = await b.post(
        "/api/v1/auth/login", json={"email": a.email, "password": "correct horse battery staple"}
    )
    assert r.status_code == 401


async def test_rows_of_one_tenant_are_invisible_from_another(two_tenants: Any) -> None:
    a, b = two_tenants
    a_staff = (await a.get("/api/v1/staff")).json()["items"]
    b_staff = (await b.get("/api/v1/staff")).json()["items"]
    assert [s["email"] for s in a_staff] == [a.email]
    assert [s["email"] for s in b_staff] == [b.email]


async def test_interleaved_concurrent_requests_see_only_their_tenant(make_tenant: Any) -> None:
    tenants = [await make_tenant() for _ in range(4)]

    async def check(tc: Any) -> None:
        r = await tc.get("/api/v1/staff")
        assert r.status_code == 200
        assert [s["email"] for s in r.json()["items"]] == [tc.email]

    await asyncio.gather(*(check(tc) for tc in tenants for _ in range(15)))


async def test_job_sees_only_its_tenant(two_tenants: Any, worker: Any) -> None:
    from app.core.redis import get_redis
    from tenants.registry import tenant_by_slug
    from tests.support.actors import report_staff

    _a, b = two_tenants
    tb = await tenant_by_slug(b.slug)
    assert tb
    marker = secrets.token_hex(8)
    report_staff.send(str(tb.id), marker)
    raw = await eventually(lambda: get_redis().get(f"wisp:test:{marker}"))
    seen = json.loads(raw)
    assert seen == {"tenant": b.slug, "emails": [b.email]}


async def test_tenant_job_without_tenant_fails_loudly(app: Any) -> None:
    from app.core.jobs import TenantMissing
    from app.signup.tasks import send_welcome

    with pytest.raises(TenantMissing):
        send_welcome.send("not-a-tenant-id", "x")
    with pytest.raises(TenantMissing):
        send_welcome.send()


async def test_unknown_host_is_404_problem(app: Any) -> None:
    async with http(app, "nobody-here.localhost") as c:
        r = await c.get("/api/v1/auth/me")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    async with http(app, "evil.example.org") as c:
        r = await c.get("/schema/openapi.json")
    assert r.status_code == 404
    async with http(app, "a.b.localhost") as c:
        assert (await c.get("/api/v1/auth/me")).status_code == 404


async def test_suspended_tenant_is_403_with_clear_message(make_tenant: Any) -> None:
    from tenants import hosts
    from tenants.registry import Tenant

    tc = await make_tenant(language="es")
    await Tenant.update({Tenant.status: "suspended"}).where(Tenant.slug == tc.slug)
    hosts.forget()
    r = await tc.get("/api/v1/auth/me")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "suspendida" in r.json()["detail"]  # the tenant's language
    await Tenant.update({Tenant.status: "active"}).where(Tenant.slug == tc.slug)
    hosts.forget()
    assert (await tc.get("/api/v1/auth/me")).status_code == 200


async def test_verified_custom_domain_resolves_to_its_tenant(make_tenant: Any, app: Any) -> None:
    import datetime as dt

    from tenants import hosts
    from tenants.registry import TenantDomain, tenant_by_slug

    tc = await make_tenant()
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    domain = f"portal-{secrets.token_hex(4)}.example.net"
    await TenantDomain.insert(TenantDomain(tenant=tenant.id, hostname=domain))
    hosts.forget()
    async with http(app, f"{domain}") as c:
        assert (await c.get("/api/v1/auth/me")).status_code == 404  # not verified yet
    await TenantDomain.update({TenantDomain.verified_at: dt.datetime.now(dt.UTC)}).where(
        TenantDomain.hostname == domain
    )
    hosts.forget()
    async with http(app, f"{domain}") as c:
        await c.get("/api/v1/auth/me")
        r = await c.post(
            "/api/v1/auth/login",
            json={"email": tc.email, "password": "correct horse battery staple"},
            headers={"X-CSRFToken": c.cookies.get("csrftoken") or ""},
        )
        assert r.status_code == 200
        assert r.json()["tenant"]["slug"] == tc.slug


async def test_idempotency_key_replays_once_and_refuses_a_different_request(
    make_tenant: Any,
) -> None:
    from app.core import audit
    from app.core.audit import SYSTEM, AuditEvent
    from app.core.idempotency import IdempotencyKey, KeyReused
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    key = IdempotencyKey(key=f"u|POST /x|{secrets.token_hex(4)}", request_hash="h1")

    async def act() -> dict[str, Any]:
        async with tenant_scope(tenant, idempotency=key) as scope:
            if scope.replayed:
                return dict(scope.replay)
            await audit.record(SYSTEM, "test.thing")
            answer = {"made": secrets.token_hex(4)}
            await scope.remember(answer)
            return answer

    first, *again = await asyncio.gather(act(), act(), act())
    assert all(a == first for a in again)
    async with tenant_scope(tenant):
        assert await AuditEvent.count().where(AuditEvent.action == "test.thing") == 1
    with pytest.raises(KeyReused):
        async with tenant_scope(
            tenant, idempotency=IdempotencyKey(key=key.key, request_hash="other")
        ):
            pass
