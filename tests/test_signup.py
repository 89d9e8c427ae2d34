from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD, http, sign_up, tenant_client, unique_slug


async def _count(sql: str, *args: Any) -> int:
    from app.core.db import DB

    conn = await DB.get_new_connection()
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def _orphan_schemas() -> int:
    """Tenant schemas with no registry row (a signup's schema and row commit together)."""
    return await _count(
        "SELECT count(*) FROM pg_namespace n WHERE n.nspname LIKE 't\\_%' AND NOT EXISTS"
        " (SELECT 1 FROM public.tenant t WHERE t.schema_name = n.nspname)"
    )


def _body(slug_: str, **over: Any) -> dict[str, Any]:
    body = {
        "company_name": "Sierra Wireless Co",
        "slug": slug_,
        "email": f"boss@{slug_}.example.com",
        "password": PASSWORD,
    }
    body.update(over)
    return body


async def test_signup_creates_tenant_and_manager_can_sign_in(app: Any) -> None:
    slug = unique_slug("ok")
    async with http(app, "localhost") as base:
        r = await base.post(
            "/api/v1/signup",
            json=_body(slug, timezone="America/Bogota", currency="cop", language="es"),
        )
    assert r.status_code == 201, r.text
    portal_url = f"http://{slug}.localhost:8000"
    assert r.json() == {"slug": slug, "portal_url": portal_url, "email_confirmed": False}
    tc = await tenant_client(app, slug, f"boss@{slug}.example.com")
    me = (await tc.get("/api/v1/auth/me")).json()
    assert me["role"] == "manager"
    assert me["tenant"] == {"slug": slug, "name": "Sierra Wireless Co"}
    from tenants.registry import tenant_by_slug

    tenant = await tenant_by_slug(slug)
    assert tenant
    assert (tenant.currency, tenant.timezone, tenant.language) == (
        "COP",
        "America/Bogota",
        "es",
    )
    assert tenant.schema == f"t_{tenant.id.hex}"  # from the internal id, not the slug
    await tc.client.aclose()


BAD_FIELDS = [
    ("slug", "ab"),
    ("slug", "x" * 41),
    ("slug", "Upper"),
    ("slug", "-lead"),
    ("slug", "trail-"),
    ("slug", "dou--ble"),
    ("slug", "has space"),
    ("slug", "www"),
    ("slug", "api"),
    ("slug", "admin"),
    ("slug", "mail"),
    ("email", "not-an-email"),
    ("password", "short"),
    ("password", "password123"),
    ("password", "qwertyuiop123"),
    ("password", "aaaaaaaaaaaaa"),
    ("language", "fr"),
    ("currency", "XYZ"),
    ("timezone", "Mars/Olympus"),
    ("timezone", "../../etc/passwd"),
    ("company_name", " "),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
async def test_invalid_field_is_named_and_nothing_is_created(
    app: Any, field: str, value: str
) -> None:
    slug = unique_slug("bad")
    body = _body(slug, **{field: value})
    async with http(app, "localhost") as base:
        r = await base.post("/api/v1/signup", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]
    assert await _count("SELECT count(*) FROM public.tenant WHERE slug = $1", body["slug"]) == 0
    assert await _orphan_schemas() == 0


async def test_password_equal_to_email_is_refused(app: Any) -> None:
    slug = unique_slug("pw")
    async with http(app, "localhost") as base:
        r = await base.post(
            "/api/v1/signup",
            json=_body(
                slug,
                email=f"someone.long@{slug}.example.com",
                password=f"someone.long@{slug}.example.com",
            ),
        )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["password"]


async def test_wrong_types_and_unknown_fields_are_422(app: Any) -> None:
    async with http(app, "localhost") as base:
        r = await base.post("/api/v1/signup", json=_body(unique_slug(), password=12345678901))
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "password"
        r = await base.post("/api/v1/signup", json={"slug": unique_slug()})
        assert r.status_code == 422
        r = await base.post(
            "/api/v1/signup", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code in (400, 422)
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_duplicate_slug_is_409_and_first_tenant_untouched(app: Any) -> None:
    slug, _ = await sign_up(app)
    async with http(app, "localhost") as base:
        r = await base.post("/api/v1/signup", json=_body(slug))
    assert r.status_code == 409
    assert r.json()["field"] == "slug"
    assert await _count("SELECT count(*) FROM public.tenant WHERE slug = $1", slug) == 1


async def test_concurrent_duplicate_signups_create_one_tenant(app: Any) -> None:
    import asyncio

    slug = unique_slug("race")
    async with http(app, "localhost") as base:
        results = await asyncio.gather(
            *(base.post("/api/v1/signup", json=_body(slug)) for _ in range(4))
        )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1
    assert set(codes) <= {201, 409}
    assert await _count("SELECT count(*) FROM public.tenant WHERE slug = $1", slug) == 1


async def test_failure_after_schema_creation_leaves_nothing(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.signup.actions as actions

    created: list[str] = []

    async def explode(_data: Any, _hash: str) -> Any:
        from app.core.db import DB

        connection = DB.current_transaction.get().connection
        created.append(await connection.fetchval("SELECT current_schema()"))
        raise RuntimeError("injected failure after the schema was created")

    monkeypatch.setattr(actions, "populate", explode)
    slug = unique_slug("boom")
    async with http(app, "localhost") as base:
        r = await base.post("/api/v1/signup", json=_body(slug))
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _count("SELECT count(*) FROM public.tenant WHERE slug = $1", slug) == 0
    assert await _orphan_schemas() == 0
    assert created
    assert created[0].startswith("t_")
    assert await _count("SELECT count(*) FROM pg_namespace WHERE nspname = $1", created[0]) == 0


async def test_signup_only_on_base_host(app: Any, make_tenant: Any) -> None:
    tc = await make_tenant()
    r = await tc.post("/api/v1/signup", json=_body(unique_slug()))
    assert r.status_code == 404


async def test_welcome_email_arrives_in_signup_language(app: Any, inbox: Any, worker: Any) -> None:
    slug_es, email_es = await sign_up(app, language="es")
    slug_en, email_en = await sign_up(app, language="en")
    es = await inbox.wait_for(email_es)
    en = await inbox.wait_for(email_en)
    assert "Bienvenido" in str(es["Subject"])
    assert f"http://{slug_es}.localhost:8000" in es.get_content()
    assert "Welcome" in str(en["Subject"])
    assert f"http://{slug_en}.localhost:8000" in en.get_content()
