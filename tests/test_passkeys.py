"""Passkeys through the API, with a software authenticator bending one thing at a time.

The end-to-end ceremony in Chromium is in test_passkeys_browser.py.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from webauthn.helpers import bytes_to_base64url

from tests.conftest import PASSWORD, TenantClient, http, tenant_client
from tests.support.soft_authenticator import SoftAuthenticator

OPTIONS_REG = "/api/v1/auth/passkeys/registration/options"
REGISTER = "/api/v1/auth/passkeys/registration"
OPTIONS_AUTH = "/api/v1/auth/passkeys/authentication/options"
AUTHENTICATE = "/api/v1/auth/passkeys/authentication"
PASSKEYS = "/api/v1/auth/passkeys"
PASSKEY_ONLY = "/api/v1/auth/passkey-only"


def origin(tc: TenantClient) -> str:
    # tests/conftest.py sets PORT=8000 and no PUBLIC_PORT; the in-process client has no port.
    return f"http://{tc.host}:8000"


async def register(tc: TenantClient, soft: SoftAuthenticator, **bend: Any) -> Any:
    options = (await tc.post(OPTIONS_REG)).json()
    at = bend.pop("origin", origin(tc))
    return await tc.post(REGISTER, json={**soft.create(options, at, **bend), "name": "Laptop"})


async def anonymous(tc: TenantClient) -> TenantClient:
    app = tc.client._transport.app  # type: ignore[attr-defined]
    return await tenant_client(app, tc.slug, tc.email, login=False)


async def sign_in(tc: TenantClient, soft: SoftAuthenticator, **bend: Any) -> Any:
    options = (await tc.post(OPTIONS_AUTH)).json()
    at = bend.pop("origin", origin(tc))
    return await tc.post(AUTHENTICATE, json=soft.get(options, at, **bend))


async def audit_actions(tc: TenantClient) -> list[dict[str, Any]]:
    from app.core.audit import AuditEvent
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    async with tenant_scope(tenant):
        rows = await AuditEvent.select().order_by(AuditEvent.occurred_at).output(load_json=True)
    return list(rows)


async def passkey_rows(tc: TenantClient) -> list[dict[str, Any]]:
    from app.identity.passkeys.tables import StaffPasskey
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    async with tenant_scope(tenant):
        return list(await StaffPasskey.select())


def test_expected_origin_and_rp_id_come_from_the_host() -> None:
    import dataclasses

    from app.core.config import get_settings
    from app.identity.passkeys.ceremony import NotOnAName, expected_origin, origin_for, rp_id_for

    assert origin_for("acme.localhost", "http", 80) == "http://acme.localhost"
    assert origin_for("acme.localhost", "http", 8000) == "http://acme.localhost:8000"
    assert origin_for("acme.example.com", "https", 443) == "https://acme.example.com"
    assert origin_for("acme.example.com", "https", 8443) == "https://acme.example.com:8443"
    https = dataclasses.replace(get_settings(), public_scheme="https", port=443)
    assert expected_origin("acme.example.com", https) == "https://acme.example.com"
    assert rp_id_for("Acme.Localhost:8000") == "acme.localhost"
    for ip in ("127.0.0.1", "127.0.0.1:8000", "[::1]:8000", ""):
        with pytest.raises(NotOnAName):
            rp_id_for(ip)


def test_public_port_wins_over_the_listening_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.config import get_settings
    from app.identity.passkeys.ceremony import expected_origin

    monkeypatch.setenv("PUBLIC_PORT", "80")
    assert expected_origin("acme.localhost", get_settings()) == "http://acme.localhost"


async def test_technician_registers_and_signs_in_with_a_passkey(make_tenant: Any) -> None:
    from app.identity.actions import add_staff
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    manager = await make_tenant()
    tenant = await tenant_by_slug(manager.slug)
    assert tenant
    email = f"tech@{manager.slug}.example.com"
    async with tenant_scope(tenant):
        await add_staff(email, "Tina Tech", "technical", PASSWORD)
    app = manager.client._transport.app
    tech = await tenant_client(app, manager.slug, email)
    soft = SoftAuthenticator()

    r = await tech.post(OPTIONS_REG)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    options = r.json()
    assert options["rp"] == {"id": tech.host, "name": tenant.name}
    assert options["user"]["name"] == email
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["excludeCredentials"] == []
    created = soft.create(options, origin(tech))
    r = await tech.post(REGISTER, json={**created, "name": "  Field   phone "})
    assert r.status_code == 201, r.text
    passkey = r.json()
    assert passkey["name"] == "Field phone"
    assert passkey["rp_id"] == tech.host
    assert passkey["transports"] == ["internal"]

    again = (await tech.post(OPTIONS_REG)).json()
    assert [c["id"] for c in again["excludeCredentials"]] == [created["id"]]
    listed = (await tech.get(PASSKEYS)).json()
    assert listed == {"items": [passkey], "passkey_only": False}

    visitor = await anonymous(manager)
    r = await sign_in(visitor, soft)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == email
    assert "wisp_session" in r.headers["set-cookie"]
    me = await visitor.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["role"] == "technical"
    [row] = await passkey_rows(manager)
    assert row["sign_count"] == 1
    assert row["last_used_at"] is not None
    events = await audit_actions(manager)
    added = [e for e in events if e["action"] == "passkey.added"]
    assert [e["actor_label"] for e in added] == [email]
    logins = [e for e in events if e["action"] == "auth.login" and e["data"].get("method")]
    assert [(e["actor_label"], e["data"]["method"]) for e in logins] == [(email, "passkey")]
    for c in (tech, visitor):
        await c.client.aclose()


async def test_passkey_routes_need_a_signed_in_staff_user(make_tenant: Any) -> None:
    tc = await make_tenant()
    visitor = await anonymous(tc)
    assert (await visitor.post(OPTIONS_REG)).status_code == 401
    created = SoftAuthenticator().create(_fake(), "http://x.localhost")
    assert (await visitor.post(REGISTER, json=created)).status_code == 401
    assert (await visitor.get(PASSKEYS)).status_code == 401
    assert (await visitor.delete(f"{PASSKEYS}/{secrets.token_hex(4)}")).status_code == 401
    assert (await visitor.patch(PASSKEY_ONLY, json={"enabled": False})).status_code == 401
    # Signing in needs the CSRF token like every other unsafe request.
    r = await visitor.client.post(OPTIONS_AUTH)
    assert r.status_code == 403
    await visitor.client.aclose()


def _fake() -> dict[str, Any]:
    return {
        "rp": {"id": "nowhere.localhost"},
        "user": {"id": bytes_to_base64url(b"u" * 16)},
        "challenge": bytes_to_base64url(secrets.token_bytes(32)),
    }


async def test_unknown_and_expired_challenges_are_refused(
    make_tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.redis import get_redis
    from app.identity.passkeys import ceremony
    from tenants.registry import tenant_by_slug

    tc = await make_tenant()
    soft = SoftAuthenticator()
    made_up = {**_fake(), "rp": {"id": tc.host}}
    r = await tc.post(REGISTER, json=soft.create(made_up, origin(tc)))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "response"

    # The challenge lives in Redis under the tenant, for five minutes.
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    await tc.post(OPTIONS_REG)
    keys = [k async for k in get_redis().scan_iter(f"wisp:{tenant.id}:passkey-challenge:*")]
    assert keys
    assert 0 < await get_redis().ttl(keys[0]) <= 300

    monkeypatch.setattr(ceremony, "CHALLENGE_TTL", 1)
    options = (await tc.post(OPTIONS_REG)).json()
    await asyncio.sleep(1.5)
    r = await tc.post(REGISTER, json=soft.create(options, origin(tc)))
    assert r.status_code == 422
    auth_options = (await tc.post(OPTIONS_AUTH)).json()
    await asyncio.sleep(1.5)
    monkeypatch.setattr(ceremony, "CHALLENGE_TTL", 300)
    assert (await register(tc, soft)).status_code == 201
    r = await tc.post(AUTHENTICATE, json=soft.get(auth_options, origin(tc)))
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert await passkey_rows(tc) != []
    failed = [e for e in await audit_actions(tc) if e["action"] == "auth.login_failed"]
    assert [e["data"]["reason"] for e in failed] == ["challenge"]
    assert failed[0]["data"]["method"] == "passkey"


async def test_malformed_credentials_are_422_and_change_nothing(make_tenant: Any) -> None:
    tc = await make_tenant()
    options = (await tc.post(OPTIONS_REG)).json()
    created = SoftAuthenticator().create(options, origin(tc))
    broken = {**created, "response": {**created["response"], "clientDataJSON": "!!"}}
    r = await tc.post(REGISTER, json=broken)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "response.clientDataJSON"
    r = await tc.post(REGISTER, json={**created, "name": "x" * 101})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"
    r = await tc.post(REGISTER, json={**created, "surprise": 1})
    assert r.status_code == 422
    r = await tc.post(AUTHENTICATE, json={"id": "x"})
    assert r.status_code == 422
    assert await passkey_rows(tc) == []


async def test_garbage_in_an_assertion_is_refused_not_a_crash(make_tenant: Any) -> None:
    tc = await make_tenant()
    soft = SoftAuthenticator()
    assert (await register(tc, soft)).status_code == 201
    for field in ("authenticatorData", "signature", "userHandle"):
        for junk in ("", "AAAA", "!!!!", "x" * 5000):
            options = (await tc.post(OPTIONS_AUTH)).json()
            assertion = soft.get(options, origin(tc))
            response = {**assertion["response"], field: junk}
            r = await tc.post(AUTHENTICATE, json={**assertion, "response": response})
            assert r.status_code == (200 if (field, junk) == ("userHandle", "") else 401), (
                field,
                junk,
                r.text,
            )
    failures = [e for e in await audit_actions(tc) if e["action"] == "auth.login_failed"]
    assert len(failures) == 11


async def test_wrong_origin_or_rp_id_is_refused(make_tenant: Any) -> None:
    tc = await make_tenant()
    soft = SoftAuthenticator()
    evil = "http://evil.localhost:8000"
    r = await register(tc, soft, origin=evil)
    assert r.status_code == 422
    r = await register(tc, soft, origin=f"https://{tc.host}:8000")
    assert r.status_code == 422
    r = await register(tc, soft, rp_id="localhost")
    assert r.status_code == 422
    assert await passkey_rows(tc) == []

    assert (await register(tc, soft)).status_code == 201
    visitor = await anonymous(tc)
    assert (await sign_in(visitor, soft, origin=evil)).status_code == 401
    assert (await sign_in(visitor, soft, rp_id="evil.localhost")).status_code == 401
    assert (await visitor.get("/api/v1/auth/me")).status_code == 401
    reasons = [e["data"]["reason"] for e in await audit_actions(tc) if "failed" in e["action"]]
    assert reasons == ["verification", "verification"]
    assert (await sign_in(visitor, soft)).status_code == 200
    await visitor.client.aclose()


async def test_replayed_assertion_and_registration_are_refused(make_tenant: Any) -> None:
    tc = await make_tenant()
    soft = SoftAuthenticator()
    options = (await tc.post(OPTIONS_REG)).json()
    created = soft.create(options, origin(tc))
    assert (await tc.post(REGISTER, json=created)).status_code == 201
    assert (await tc.post(REGISTER, json=created)).status_code == 422

    visitor = await anonymous(tc)
    auth_options = (await visitor.post(OPTIONS_AUTH)).json()
    assertion = soft.get(auth_options, origin(tc))
    assert (await visitor.post(AUTHENTICATE, json=assertion)).status_code == 200
    replay = await visitor.post(AUTHENTICATE, json=assertion)
    assert replay.status_code == 401
    # A failed try spends the challenge too: a corrected answer to it is refused.
    auth_options = (await visitor.post(OPTIONS_AUTH)).json()
    bad = soft.get(auth_options, "http://evil.localhost:8000")
    assert (await visitor.post(AUTHENTICATE, json=bad)).status_code == 401
    good = soft.get(auth_options, origin(tc))
    assert (await visitor.post(AUTHENTICATE, json=good)).status_code == 401
    assert (await sign_in(visitor, soft)).status_code == 200
    await visitor.client.aclose()


async def test_sign_count_must_grow_unless_both_are_zero(make_tenant: Any) -> None:
    tc = await make_tenant()
    soft = SoftAuthenticator()
    assert (await register(tc, soft)).status_code == 201
    visitor = await anonymous(tc)
    assert (await sign_in(visitor, soft, sign_count=5)).status_code == 200
    assert (await sign_in(visitor, soft, sign_count=5)).status_code == 401
    assert (await sign_in(visitor, soft, sign_count=3)).status_code == 401
    assert (await sign_in(visitor, soft, sign_count=0)).status_code == 401
    assert (await sign_in(visitor, soft, sign_count=6)).status_code == 200
    assert [r["sign_count"] for r in await passkey_rows(tc)] == [6]
    reasons = [e["data"]["reason"] for e in await audit_actions(tc) if "failed" in e["action"]]
    assert reasons == ["sign_count"] * 3

    # Authenticators without a counter (synced passkeys) always say 0: that is allowed.
    still = SoftAuthenticator(counter_step=0)
    assert (await register(tc, still)).status_code == 201
    assert (await sign_in(visitor, still)).status_code == 200
    assert (await sign_in(visitor, still)).status_code == 200
    await visitor.client.aclose()


async def test_user_handle_must_match_and_inactive_users_cannot_sign_in(
    make_tenant: Any,
) -> None:
    from app.identity.tables import StaffUser
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    soft = SoftAuthenticator()
    assert (await register(tc, soft)).status_code == 201
    visitor = await anonymous(tc)
    soft.credentials[-1].user_handle = b"someone else...."
    assert (await sign_in(visitor, soft)).status_code == 401
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    async with tenant_scope(tenant):
        user = await StaffUser.select().where(StaffUser.email == tc.email).first()
        soft.credentials[-1].user_handle = user["id"].bytes
        await StaffUser.update({StaffUser.is_active: False}).where(StaffUser.id == user["id"])
    assert (await sign_in(visitor, soft)).status_code == 401
    reasons = [e["data"]["reason"] for e in await audit_actions(tc) if "failed" in e["action"]]
    assert reasons == ["user_handle", "inactive"]
    await visitor.client.aclose()


async def test_registration_honours_idempotency_key(make_tenant: Any) -> None:
    tc = await make_tenant()
    options = (await tc.post(OPTIONS_REG)).json()
    created = SoftAuthenticator().create(options, origin(tc))
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = await tc.post(REGISTER, json=created, headers=key)
    second = await tc.post(REGISTER, json=created, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len(await passkey_rows(tc)) == 1


async def test_removing_passkeys_and_passkey_only(make_tenant: Any) -> None:
    tc = await make_tenant()
    soft = SoftAuthenticator()
    r = await tc.patch(PASSKEY_ONLY, json={"enabled": True})
    assert r.status_code == 409
    assert r.json()["field"] == "enabled"
    first = (await register(tc, soft)).json()
    second = (await register(tc, soft)).json()
    assert (await tc.patch(PASSKEY_ONLY, json={"enabled": "yes"})).status_code == 422
    r = await tc.patch(PASSKEY_ONLY, json={"enabled": True})
    assert r.status_code == 200
    assert r.json() == {"enabled": True}
    assert (await tc.get(PASSKEYS)).json()["passkey_only"] is True

    login = {"email": tc.email, "password": PASSWORD}
    visitor = await anonymous(tc)
    assert (await visitor.post("/api/v1/auth/login", json=login)).status_code == 401
    assert (await sign_in(visitor, soft)).status_code == 200

    assert (await tc.delete(f"{PASSKEYS}/{first['id']}")).status_code == 204
    assert (await tc.delete(f"{PASSKEYS}/{first['id']}")).status_code == 404
    assert (await tc.delete(f"{PASSKEYS}/not-a-uuid")).status_code == 404
    r = await tc.delete(f"{PASSKEYS}/{second['id']}")
    assert r.status_code == 409  # the last passkey of a passkey-only account
    assert [p["id"] for p in (await tc.get(PASSKEYS)).json()["items"]] == [second["id"]]
    r = await sign_in(visitor, soft, credential=soft.credentials[0])
    assert r.status_code == 401
    assert "not registered" in r.json()["detail"]

    assert (await tc.patch(PASSKEY_ONLY, json={"enabled": False})).status_code == 200
    assert (await visitor.post("/api/v1/auth/login", json=login)).status_code == 200
    assert (await tc.delete(f"{PASSKEYS}/{second['id']}")).status_code == 204
    actions = [e["action"] for e in await audit_actions(tc)]
    assert actions.count("passkey.removed") == 2
    assert actions.count("auth.passkey_only_changed") == 2
    await visitor.client.aclose()


async def test_another_staff_users_passkey_is_not_found(make_tenant: Any, app: Any) -> None:
    from app.identity.actions import add_staff
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    manager = await make_tenant()
    tenant = await tenant_by_slug(manager.slug)
    assert tenant
    email = f"sales@{manager.slug}.example.com"
    async with tenant_scope(tenant):
        await add_staff(email, "Sam Sales", "sales", PASSWORD)
    sales = await tenant_client(app, manager.slug, email)
    theirs = (await register(sales, SoftAuthenticator())).json()
    assert (await manager.delete(f"{PASSKEYS}/{theirs['id']}")).status_code == 404
    assert (await manager.get(PASSKEYS)).json()["items"] == []
    assert len(await passkey_rows(manager)) == 1
    await sales.client.aclose()


async def test_a_passkey_of_one_tenant_is_useless_on_another(two_tenants: Any) -> None:
    a, b = two_tenants
    soft = SoftAuthenticator()
    passkey = (await register(a, soft)).json()
    credential = soft.credentials[-1]
    b_visitor = await anonymous(b)

    # A's credential answering B's challenge, as B's origin and RP: B does not know it.
    r = await sign_in(b_visitor, soft, credential=credential, origin=origin(b), rp_id=b.host)
    assert r.status_code == 401
    # A's genuine assertion (A's origin and RP) posted to B with B's challenge.
    r = await sign_in(b_visitor, soft, credential=credential, origin=origin(a), rp_id=a.host)
    assert r.status_code == 401
    # A's challenge is not B's: a challenge issued on A's host is unknown on B's.
    a_visitor = await anonymous(a)
    a_options = (await a_visitor.post(OPTIONS_AUTH)).json()
    await a_visitor.client.aclose()
    r = await b_visitor.post(AUTHENTICATE, json=soft.get(a_options, origin(a)))
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert (await b_visitor.get("/api/v1/auth/me")).status_code == 401

    # B's manager, with A's passkey id, finds nothing and changes nothing.
    assert (await b.delete(f"{PASSKEYS}/{passkey['id']}")).status_code == 404
    assert (await b.get(PASSKEYS)).json()["items"] == []
    assert (await b.patch(PASSKEY_ONLY, json={"enabled": True})).status_code == 409
    # A registration challenge issued to A cannot register on B.
    a_reg = (await a.post(OPTIONS_REG)).json()
    r = await b.post(REGISTER, json=soft.create(a_reg, origin(b), rp_id=b.host))
    assert r.status_code == 422
    assert await passkey_rows(b) == []
    assert [str(p["id"]) for p in await passkey_rows(a)] == [passkey["id"]]

    # A's session cookie on B's host is no session at all.
    cookie = a.client.cookies.get("wisp_session")
    async with http(b.client._transport.app, b.host) as stranger:
        await stranger.get("/api/v1/auth/me")
        csrf = {"X-CSRFToken": stranger.cookies.get("csrftoken") or ""}
        jar = {"Cookie": f"wisp_session={cookie}; csrftoken={stranger.cookies.get('csrftoken')}"}
        for method, path in (
            ("POST", OPTIONS_REG),
            ("GET", PASSKEYS),
            ("DELETE", f"{PASSKEYS}/{passkey['id']}"),
            ("PATCH", PASSKEY_ONLY),
        ):
            r = await stranger.request(
                method, path, headers={**csrf, **jar}, json={"enabled": False}
            )
            assert r.status_code == 401, (method, path, r.text)
    assert len(await passkey_rows(a)) == 1
    await b_visitor.client.aclose()
