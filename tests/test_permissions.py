"""The role × route table covers every route, and each role gets exactly what it says."""

from __future__ import annotations

from typing import Any


def declared(app: Any) -> dict[str, frozenset[str]]:
    """ "METHOD /path" → who its handler says may call it."""
    from app.identity.permissions import route_table

    return {f"{r.method} {r.path}": r.roles for r in route_table(app) if r.roles is not None}


async def test_every_route_declares_who_may_call_it(app: Any) -> None:
    from app.identity.permissions import route_table

    missing = [f"{r.method} {r.path}" for r in route_table(app) if r.roles is None]
    assert not missing, f"declare roles=allow(...) on these handlers: {missing}"


async def test_a_handler_without_declared_roles_is_refused_to_everyone() -> None:
    from litestar import Litestar, get
    from litestar.testing import AsyncTestClient

    from app.core.problems import EXCEPTION_HANDLERS
    from app.identity.permissions import authorize

    @get("/undeclared", sync_to_thread=False)
    def undeclared() -> str:
        return "leaked"

    probe = Litestar([undeclared], guards=[authorize], exception_handlers=EXCEPTION_HANDLERS)
    async with AsyncTestClient(probe) as client:
        r = await client.get("/undeclared")
    assert r.status_code == 403
    assert "leaked" not in r.text


async def test_wisp_routes_prints_the_role_by_route_table(app: Any) -> None:
    from click.testing import CliRunner

    from app.cli import main

    result = CliRunner().invoke(main, ["routes"])
    assert result.exit_code == 0, result.output
    assert "/api/v1/staff/invitations" in result.output
    line = next(x for x in result.output.splitlines() if "POST" in x and "/api/v1/rate-plans " in x)
    assert "manager" in line and "sales" not in line


# The whole role × route table, called for real ------------------------------------------------

WHO = ("manager", "sales", "customer_service", "finance", "technical", "subscriber", "anonymous")
IDENTITY_PREFIXES = ("/api/v1/auth", "/api/v1/staff", "/api/v1/api-tokens", "/api/v1/audit-log")


def concrete(path_template: str) -> str:
    """A real path for a template: every parameter becomes a random id."""
    import re
    import uuid

    return re.sub(r"\{[^}]+\}", lambda _m: str(uuid.uuid4()), path_template)


async def principals_for(tc: Any) -> dict[str, Any]:
    """A real staff user per role (handlers may look them up) and a subscriber principal."""
    import uuid

    from app.core.principal import Principal
    from tests.support.identity import add_user

    out: dict[str, Any] = {}
    for role in WHO[:5]:
        user_id, email = await add_user(tc, role)
        out[role] = Principal("staff", user_id, email, role, role, None, 0.0)
    out["subscriber"] = Principal(
        "subscriber", str(uuid.uuid4()), f"sub@{tc.slug}.example.com", "Sub", "", None, 0.0
    )
    return out


async def call(app: Any, tc: Any, tenant: Any, csrf: str, key: str, principal: Any | None) -> int:
    from app.identity import sessions
    from tests.conftest import http

    method, template = key.split(" ", 1)
    cookies = [f"csrftoken={csrf}"]
    if principal is not None:
        # A fresh session for every call: routes such as "sign out" end the one they get.
        cookies.append(f"wisp_session={await sessions.start(tenant, principal)}")
    async with http(app, tc.host) as client:
        response = await client.request(
            method,
            concrete(template),
            headers={"Cookie": "; ".join(cookies), "X-CSRFToken": csrf},
            json={} if method in {"POST", "PATCH", "PUT"} else None,
        )
    return response.status_code


async def test_each_role_gets_exactly_what_the_table_says(make_tenant: Any, app: Any) -> None:
    from app.core.roles import ANYONE, SUBSCRIBER
    from app.web.middleware import GATEWAY_PREFIX
    from tests.support.identity import tenant_of

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    principals = await principals_for(tc)
    csrf = tc.client.cookies.get("csrftoken") or ""
    wrong: list[str] = []
    table = declared(app)
    for key in sorted(table):
        if key.split(" ", 1)[1].startswith(GATEWAY_PREFIX):
            continue  # no person calls these: a gateway secret does (tested with the gateways)
        allowed = table[key]
        for who in WHO:
            status = await call(app, tc, tenant, csrf, key, principals.get(who))
            if ANYONE in allowed:
                expected = None
            elif who == "anonymous":
                expected = 401
            elif (SUBSCRIBER if who == "subscriber" else who) in allowed:
                expected = None
            else:
                expected = 403
            if expected is None and status in (401, 403):
                wrong.append(f"{key} as {who}: {status}, the table allows it")
            elif expected is not None and status != expected:
                wrong.append(f"{key} as {who}: {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)


async def test_identity_routes_refuse_another_tenants_sessions_and_ids(
    two_tenants: Any, app: Any
) -> None:
    import datetime as dt
    import uuid

    from app.core.roles import ANYONE
    from app.identity.tables import PasswordReset, StaffInvitation
    from app.identity.tokens import new_token
    from tenants.scope import tenant_scope
    from tests.conftest import http
    from tests.support.identity import add_user, tenant_of

    a, b = two_tenants
    tenant_b = await tenant_of(b)
    b_user, _b_email = await add_user(b, "technical")
    b_api_token = (
        await b.post("/api/v1/api-tokens", json={"name": "B sync", "role": "manager"})
    ).json()
    invite_raw, invite_hash = new_token()
    reset_raw, reset_hash = new_token()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    invitation_id = uuid.uuid4()
    async with tenant_scope(tenant_b):
        await StaffInvitation.insert(
            StaffInvitation(
                id=invitation_id,
                email=f"new@{b.slug}.example.com",
                role="manager",
                token_hash=invite_hash,
                created_at=dt.datetime.now(dt.UTC),
                expires_at=later,
            )
        )
        await PasswordReset.insert(
            PasswordReset(
                id=uuid.uuid4(),
                staff_user=uuid.UUID(b_user),
                token_hash=reset_hash,
                created_at=dt.datetime.now(dt.UTC),
                expires_at=later,
            )
        )

    # B's session on A's host: unknown there, for every identity route that needs a sign-in.
    b_cookie = b.client.cookies.get("wisp_session")
    csrf = a.client.cookies.get("csrftoken") or ""
    async with http(app, a.host) as stranger:
        table = declared(app)
        for key in sorted(table):
            method, template = key.split(" ", 1)
            if not template.startswith(IDENTITY_PREFIXES) or ANYONE in table[key]:
                continue
            r = await stranger.request(
                method,
                concrete(template),
                headers={
                    "Cookie": f"wisp_session={b_cookie}; csrftoken={csrf}",
                    "X-CSRFToken": csrf,
                },
                json={} if method in {"POST", "PATCH", "PUT"} else None,
            )
            assert r.status_code == 401, key
        r = await stranger.get(
            "/api/v1/staff", headers={"Authorization": f"Bearer {b_api_token['token']}"}
        )
        assert r.status_code == 401

    # B's ids with A's manager: not found, as if they did not exist.
    for response in (
        await a.patch(f"/api/v1/staff/{b_user}", json={"role": "manager"}),
        await a.post(f"/api/v1/staff/{b_user}/deactivate"),
        await a.post(f"/api/v1/staff/{b_user}/reactivate"),
        await a.delete(f"/api/v1/staff/invitations/{invitation_id}"),
        await a.delete(f"/api/v1/api-tokens/{b_api_token['id']}"),
    ):
        assert response.status_code == 404, response.request.url
    # B's single-use tokens on A's host: not valid there.
    r = await a.post(
        "/api/v1/auth/invitations/accept",
        json={"token": invite_raw, "name": "Intruder", "password": "a long enough passphrase"},
    )
    assert r.status_code == 422
    r = await a.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": reset_raw, "password": "a long enough passphrase"},
    )
    assert r.status_code == 422
    assert f"new@{b.slug}.example.com" not in str((await a.get("/api/v1/staff")).json())

    # Nothing of B changed.
    staff = {s["id"]: s for s in (await b.get("/api/v1/staff")).json()["items"]}
    assert staff[b_user]["role"] == "technical"
    assert staff[b_user]["is_active"] is True
    pending = (await b.get("/api/v1/staff/invitations")).json()["items"]
    assert [i["id"] for i in pending] == [str(invitation_id)]
    assert [t["id"] for t in (await b.get("/api/v1/api-tokens")).json()["items"]] == [
        b_api_token["id"]
    ]
    async with tenant_scope(tenant_b):
        assert await PasswordReset.count().where(PasswordReset.used_at.is_null()) == 1
    assert (await b.get("/api/v1/auth/me")).status_code == 200
