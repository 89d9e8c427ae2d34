"""Password reset by email and password change: single use, expiring, sessions end."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.conftest import PASSWORD, tenant_client
from tests.support.identity import (
    anonymous,
    audit_actions,
    body_text,
    mails_with,
    signed_in,
    tenant_of,
    wait_for_link,
)

NEW_PASSWORD = "violet kettle on the hill"


async def _reset_token(app: Any, tc: Any, inbox: Any, email: str) -> str:
    visitor = await anonymous(app, tc)
    r = await visitor.post("/api/v1/auth/password-reset", json={"email": email})
    assert r.status_code == 202
    await visitor.client.aclose()
    token = await wait_for_link(inbox, email, "reset")
    (mail,) = [m for m in mails_with(inbox, email, "reset") if token in body_text(m)]
    assert f"http://{tc.slug}.localhost:8000/reset/{token}" in body_text(mail)
    return token


async def test_reset_answers_the_same_for_any_address(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    tc = await make_tenant()
    visitor = await anonymous(app, tc)
    ghost = f"ghost@{tc.slug}.example.com"
    known = await visitor.post("/api/v1/auth/password-reset", json={"email": tc.email})
    unknown = await visitor.post("/api/v1/auth/password-reset", json={"email": ghost})
    junk = await visitor.post("/api/v1/auth/password-reset", json={"email": "x"})
    assert known.status_code == unknown.status_code == junk.status_code == 202
    assert known.content == unknown.content == junk.content
    await wait_for_link(inbox, tc.email, "reset")
    requested = await audit_actions(tc, action="auth.password_reset_requested")
    assert len(requested) == 1
    assert not inbox.to(ghost)
    # A second request within the minute sends no second mail: by the time a later request
    # for someone else is mailed, the owner still has one.
    await visitor.post("/api/v1/auth/password-reset", json={"email": tc.email})
    sales, _sales_id = await signed_in(app, tc, "sales")
    sales_email = (await sales.get("/api/v1/auth/me")).json()["email"]
    await visitor.post("/api/v1/auth/password-reset", json={"email": sales_email})
    await wait_for_link(inbox, sales_email, "reset")
    assert len(await audit_actions(tc, action="auth.password_reset_requested")) == 2
    assert len(mails_with(inbox, tc.email, "reset")) == 1
    await sales.client.aclose()
    await visitor.client.aclose()


async def test_reset_sets_the_password_once_and_ends_sessions(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    tc = await make_tenant()
    token = await _reset_token(app, tc, inbox, tc.email)
    visitor = await anonymous(app, tc)

    async def confirm(password: str, raw: str = token) -> Any:
        return await visitor.post(
            "/api/v1/auth/password-reset/confirm", json={"token": raw, "password": password}
        )

    r = await confirm("password1234")  # common: refused, the link stays good
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "password"
    assert (await tc.get("/api/v1/auth/me")).status_code == 200
    assert (await confirm(NEW_PASSWORD)).status_code == 204
    assert (await tc.get("/api/v1/auth/me")).status_code == 401  # every session ended
    r = await confirm("another fine passphrase")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "token"
    r = await visitor.post("/api/v1/auth/login", json={"email": tc.email, "password": PASSWORD})
    assert r.status_code == 401
    again = await tenant_client(app, tc.slug, tc.email, password=NEW_PASSWORD)
    assert [e["action"] for e in await audit_actions(again, action="auth.password_reset")] == [
        "auth.password_reset",
        "auth.password_reset_requested",
    ]
    await visitor.client.aclose()
    await again.client.aclose()


async def test_expired_reset_link_changes_nothing(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    from app.identity.tables import PasswordReset
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    token = await _reset_token(app, tc, inbox, tc.email)
    async with tenant_scope(await tenant_of(tc)):
        await PasswordReset.update(
            {PasswordReset.expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
        ).where(PasswordReset.used_at.is_null())
    visitor = await anonymous(app, tc)
    r = await visitor.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 422
    assert "expired" in r.json()["errors"][0]["message"]
    assert (await tc.get("/api/v1/auth/me")).status_code == 200
    r = await visitor.post("/api/v1/auth/login", json={"email": tc.email, "password": PASSWORD})
    assert r.status_code == 200
    await visitor.client.aclose()


async def test_reset_tokens_are_stored_hashed(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    import hashlib

    from app.identity.tables import PasswordReset
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    token = await _reset_token(app, tc, inbox, tc.email)
    async with tenant_scope(await tenant_of(tc)):
        rows = await PasswordReset.select()
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in str(rows)


async def test_deactivated_user_gets_no_reset_and_cannot_use_one(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    tc = await make_tenant()
    sales, sales_id = await signed_in(app, tc, "sales")
    email = (await sales.get("/api/v1/auth/me")).json()["email"]
    token = await _reset_token(app, tc, inbox, email)
    assert (await tc.post(f"/api/v1/staff/{sales_id}/deactivate")).status_code == 200
    visitor = await anonymous(app, tc)
    r = await visitor.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 422
    await sales.client.aclose()
    await visitor.client.aclose()


async def test_password_change(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    other_device = await tenant_client(app, tc.slug, tc.email)

    async def change(current: str, new: str) -> Any:
        return await tc.post(
            "/api/v1/auth/password", json={"current_password": current, "new_password": new}
        )

    r = await change("not my password", NEW_PASSWORD)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "current_password"
    r = await change(PASSWORD, "qwerty123456")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "new_password"
    r = await change(PASSWORD, tc.email)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "new_password"
    assert (await other_device.get("/api/v1/auth/me")).status_code == 200
    assert (await change(PASSWORD, NEW_PASSWORD)).status_code == 204
    assert (await tc.get("/api/v1/auth/me")).status_code == 200  # this session stays
    assert (await other_device.get("/api/v1/auth/me")).status_code == 401
    r = await other_device.post(
        "/api/v1/auth/login", json={"email": tc.email, "password": PASSWORD}
    )
    assert r.status_code == 401
    r = await other_device.post(
        "/api/v1/auth/login", json={"email": tc.email, "password": NEW_PASSWORD}
    )
    assert r.status_code == 200
    actions = [e["action"] for e in await audit_actions(tc, action="auth.password_change")]
    assert actions == ["auth.password_changed", "auth.password_change_failed"]
    await other_device.client.aclose()


async def test_password_is_stored_with_argon2id(make_tenant: Any) -> None:
    from app.identity.tables import StaffUser
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    async with tenant_scope(await tenant_of(tc)):
        row = await StaffUser.select(StaffUser.password_hash).first()
    assert row is not None
    assert row["password_hash"].startswith("$argon2id$")
