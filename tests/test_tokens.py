"""API tokens: shown once, stored hashed, a role like a person's, bearer without CSRF."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.conftest import http
from tests.support.identity import audit_actions, signed_in, tenant_of


async def make_token(tc: Any, role: str, name: str = "Billing sync", **kw: Any) -> dict[str, Any]:
    r = await tc.post("/api/v1/api-tokens", json={"name": name, "role": role}, **kw)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_token_is_shown_once_and_stored_hashed(make_tenant: Any) -> None:
    from app.identity.tables import ApiToken
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    created = await make_token(tc, "finance")
    token = created["token"]
    assert token.startswith("wisp_")
    assert len(token) > 40
    assert created["hint"] == token[:9]
    listed = (await tc.get("/api/v1/api-tokens")).json()["items"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert token not in str(listed)
    async with tenant_scope(await tenant_of(tc)):
        rows = await ApiToken.select()
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(rows)


async def test_token_acts_with_its_role_and_needs_no_csrf(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    manager_token = (await make_token(tc, "manager", "Reporting"))["token"]
    finance_token = (await make_token(tc, "finance"))["token"]
    async with http(app, tc.host) as integration:
        r = await integration.get("/api/v1/staff", headers=bearer(manager_token))
        assert r.status_code == 200
        r = await integration.get("/api/v1/staff", headers=bearer(finance_token))
        assert r.status_code == 403
        me = (await integration.get("/api/v1/auth/me", headers=bearer(finance_token))).json()
        assert me["role"] == "finance"
        assert me["name"] == "Billing sync"
        # An unsafe method with no CSRF token: fine for a bearer call…
        r = await integration.post(
            "/api/v1/auth/password-reset",
            json={"email": "nobody@example.com"},
            headers=bearer(finance_token),
        )
        assert r.status_code == 202
        # …but not once a session cookie rides along (a browser could be tricked into that).
        cookie = tc.client.cookies.get("wisp_session")
        r = await integration.post(
            "/api/v1/auth/password-reset",
            json={"email": "nobody@example.com"},
            headers={**bearer(finance_token), "Cookie": f"wisp_session={cookie}"},
        )
        assert r.status_code == 403
        # and without the bearer, the same call still needs its CSRF token.
        r = await integration.post("/api/v1/auth/password-reset", json={"email": "x@y.example"})
        assert r.status_code == 403


async def test_tokens_cannot_manage_tokens_staff_or_sessions(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    token = (await make_token(tc, "manager", "Admin robot"))["token"]
    user = (await tc.get("/api/v1/auth/me")).json()["id"]
    async with http(app, tc.host) as robot:
        h = bearer(token)
        calls = [
            robot.post("/api/v1/api-tokens", json={"name": "More", "role": "manager"}, headers=h),
            robot.get("/api/v1/api-tokens", headers=h),
            robot.post(
                "/api/v1/staff/invitations",
                json={"email": "x@y.example.com", "role": "manager"},
                headers=h,
            ),
            robot.patch(f"/api/v1/staff/{user}", json={"role": "sales"}, headers=h),
            robot.post(f"/api/v1/staff/{user}/deactivate", headers=h),
            robot.post("/api/v1/auth/logout", headers=h),
            robot.post("/api/v1/auth/logout-everywhere", headers=h),
        ]
        for call in calls:
            r = await call
            assert r.status_code == 403, r.request.url
        # Reading is fine for a manager's token.
        assert (await robot.get("/api/v1/audit-log", headers=h)).status_code == 200
    assert len((await tc.get("/api/v1/api-tokens")).json()["items"]) == 1


async def test_revoked_or_unknown_token_is_401_at_once(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    created = await make_token(tc, "technical")
    async with http(app, tc.host) as integration:
        h = bearer(created["token"])
        assert (await integration.get("/api/v1/auth/me", headers=h)).status_code == 200
        assert (await tc.delete(f"/api/v1/api-tokens/{created['id']}")).status_code == 204
        r = await integration.get("/api/v1/auth/me", headers=h)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        for value in ("Bearer wisp_nope", "Bearer ", "Bearer " + "x" * 500, "bearer wisp_"):
            r = await integration.get("/api/v1/auth/me", headers={"Authorization": value})
            assert r.status_code == 401, value
    assert (await tc.get("/api/v1/api-tokens")).json()["items"] == []
    assert (await tc.delete(f"/api/v1/api-tokens/{created['id']}")).status_code == 204
    assert (await tc.delete("/api/v1/api-tokens/not-an-id")).status_code == 404
    actions = [e["action"] for e in await audit_actions(tc, action="api_token.")]
    assert actions == ["api_token.revoked", "api_token.created"]


async def test_last_used_is_kept_and_written_at_most_once_a_minute(
    make_tenant: Any, app: Any
) -> None:
    import datetime as dt

    from app.core.redis import get_redis, key
    from app.identity.tables import ApiToken
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    created = await make_token(tc, "sales")
    assert (await tc.get("/api/v1/api-tokens")).json()["items"][0]["last_used_at"] is None

    async def last_used() -> Any:
        async with tenant_scope(tenant):
            row = await ApiToken.select(ApiToken.last_used_at).first()
        assert row is not None
        return row["last_used_at"]

    async with http(app, tc.host) as integration:
        await integration.get("/api/v1/auth/me", headers=bearer(created["token"]))
        first = await last_used()
        assert first is not None
        long_ago = first - dt.timedelta(hours=1)
        async with tenant_scope(tenant):
            await ApiToken.update({ApiToken.last_used_at: long_ago}).where(
                ApiToken.id == created["id"]
            )
        await integration.get("/api/v1/auth/me", headers=bearer(created["token"]))
        assert await last_used() == long_ago  # within the minute: not written again
        await get_redis().delete(key(tenant.id, "api-token-used", created["id"]))  # a minute on
        await integration.get("/api/v1/auth/me", headers=bearer(created["token"]))
        assert await last_used() > long_ago
    listed = (await tc.get("/api/v1/api-tokens")).json()["items"][0]
    assert listed["last_used_at"] is not None


async def test_creating_checks_input_and_honours_idempotency_key(make_tenant: Any) -> None:
    tc = await make_tenant()
    r = await tc.post("/api/v1/api-tokens", json={"name": "", "role": "root"})
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == ["name", "role"]
    first = await make_token(tc, "finance", headers={"Idempotency-Key": "tok-1"})
    again = await make_token(tc, "finance", headers={"Idempotency-Key": "tok-1"})
    assert again["id"] == first["id"]
    assert first["token"]
    assert again["token"] is None  # the secret is never stored, so it cannot be replayed
    assert len((await tc.get("/api/v1/api-tokens")).json()["items"]) == 1


async def test_only_managers_make_tokens(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    finance, _ = await signed_in(app, tc, "finance")
    r = await finance.post("/api/v1/api-tokens", json={"name": "Mine", "role": "manager"})
    assert r.status_code == 403
    assert (await tc.get("/api/v1/api-tokens")).json()["items"] == []
    await finance.client.aclose()


async def test_token_of_one_tenant_is_401_on_another(two_tenants: Any, app: Any) -> None:
    a, b = two_tenants
    created = await make_token(a, "manager")
    async with http(app, b.host) as stranger:
        r = await stranger.get("/api/v1/staff", headers=bearer(created["token"]))
        assert r.status_code == 401
    assert (await b.delete(f"/api/v1/api-tokens/{created['id']}")).status_code == 404
    assert len((await a.get("/api/v1/api-tokens")).json()["items"]) == 1
