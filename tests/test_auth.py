from __future__ import annotations

from typing import Any

from tests.conftest import PASSWORD, tenant_client


async def test_wrong_password_and_unknown_email_say_the_same(make_tenant: Any) -> None:
    tc = await make_tenant()
    wrong = await tc.post("/api/v1/auth/login", json={"email": tc.email, "password": "nope" * 3})
    unknown = await tc.post(
        "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope" * 3}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"].startswith("application/problem+json")


async def test_login_needs_csrf_token(make_tenant: Any) -> None:
    tc = await make_tenant()
    r = await tc.client.post("/api/v1/auth/login", json={"email": tc.email, "password": PASSWORD})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await tc.client.post(
        "/api/v1/auth/login",
        json={"email": tc.email, "password": PASSWORD},
        headers={"X-CSRFToken": "forged"},
    )
    assert r.status_code == 403


async def test_me_and_logout(make_tenant: Any) -> None:
    tc = await make_tenant()
    me = await tc.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["email"] == tc.email
    old_cookie = tc.client.cookies.get("wisp_session")
    assert (await tc.post("/api/v1/auth/logout")).status_code == 204
    assert (await tc.get("/api/v1/auth/me")).status_code == 401
    # The old session id is dead on the server, not only forgotten by the browser.
    r = await tc.client.get("/api/v1/auth/me", cookies={"wisp_session": old_cookie})
    assert r.status_code == 401


async def test_session_id_rotates_at_each_sign_in(make_tenant: Any) -> None:
    tc = await make_tenant()
    first = tc.client.cookies.get("wisp_session")
    await tc.post("/api/v1/auth/login", json={"email": tc.email, "password": PASSWORD})
    assert tc.client.cookies.get("wisp_session") != first


async def test_problem_details_follow_user_then_tenant_then_accept_language(
    make_tenant: Any,
) -> None:
    from tests.conftest import http

    english = await make_tenant(language="en")
    app = english.client._transport.app
    # Base host: no user, no tenant, so Accept-Language decides.
    async with http(app) as base:
        r = await base.post(
            "/api/v1/signup",
            json={"slug": "x"},
            headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"},
        )
    assert r.json()["title"] == "Algunos campos no son válidos"
    # Tenant host, nobody signed in: the tenant's language beats Accept-Language.
    anonymous = await tenant_client(app, english.slug, english.email, login=False)
    r = await anonymous.get("/api/v1/auth/me", headers={"Accept-Language": "es"})
    assert r.json()["title"] == "Not signed in"
    await anonymous.client.aclose()


async def test_user_language_wins_over_accept_language(make_tenant: Any) -> None:
    tc = await make_tenant(language="es")
    r = await tc.get("/api/v1/staff?limit=0", headers={"Accept-Language": "en"})
    assert r.status_code == 422  # limit below 1
    assert r.json()["title"] == "Algunos campos no son válidos"


async def test_staff_list_is_for_managers_only(make_tenant: Any, app: Any) -> None:
    from app.identity.actions import add_staff
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    async with tenant_scope(tenant):
        await add_staff(f"sales@{tc.slug}.example.com", "Sam Sales", "sales", PASSWORD)
    sales = await tenant_client(app, tc.slug, f"sales@{tc.slug}.example.com")
    r = await sales.get("/api/v1/staff")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await sales.get("/api/v1/auth/me")).json()["role"] == "sales"
    anonymous = await tenant_client(app, tc.slug, tc.email, login=False)
    assert (await anonymous.get("/api/v1/staff")).status_code == 401
    assert (await tc.get("/api/v1/staff")).status_code == 200
    await sales.client.aclose()
    await anonymous.client.aclose()
