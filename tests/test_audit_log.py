"""The audit log: what is recorded, filters, stable cursor paging, one tenant's events only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.conftest import PASSWORD, tenant_client
from tests.support.identity import add_user, audit_actions, signed_in, tenant_of


async def test_identity_events_are_recorded(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    user_id, email = await add_user(tc, "sales")
    r = await tc.post("/api/v1/auth/login", json={"email": email, "password": "wrong password!"})
    assert r.status_code == 401
    user = await tenant_client(app, tc.slug, email)
    await user.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "lantern by the harbour"},
    )
    await user.post("/api/v1/auth/logout")
    r = await tc.post(
        "/api/v1/staff/invitations", json={"email": f"n@{tc.slug}.example.com", "role": "sales"}
    )
    await tc.delete(f"/api/v1/staff/invitations/{r.json()['id']}")
    await tc.patch(f"/api/v1/staff/{user_id}", json={"role": "finance"})
    await tc.post(f"/api/v1/staff/{user_id}/deactivate")
    await tc.post(f"/api/v1/staff/{user_id}/reactivate")
    token = (await tc.post("/api/v1/api-tokens", json={"name": "T", "role": "sales"})).json()
    await tc.delete(f"/api/v1/api-tokens/{token['id']}")
    actions = [e["action"] for e in await audit_actions(tc)]
    expected = [
        "api_token.revoked",
        "api_token.created",
        "staff.reactivated",
        "staff.deactivated",
        "staff.role_changed",
        "invitation.revoked",
        "invitation.created",
        "auth.logout",
        "auth.password_changed",
        "auth.login",
        "auth.login_failed",
    ]
    assert actions[: len(expected)] == expected
    events = {e["action"]: e for e in await audit_actions(tc)}
    failed = events["auth.login_failed"]
    assert failed["object_id"] == user_id
    assert failed["data"] == {"email": email}
    assert failed["ip"] == "127.0.0.1"
    assert events["auth.logout"]["actor_id"] == user_id
    assert "lantern" not in str(events)  # no secret ever reaches the log
    await user.client.aclose()


async def test_filters(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    owner = (await tc.get("/api/v1/auth/me")).json()["id"]
    other, other_id = await signed_in(app, tc, "technical")
    by_other = await audit_actions(tc, actor_id=other_id)
    assert {e["action"] for e in by_other} == {"auth.login"}
    assert all(e["actor_id"] == owner for e in await audit_actions(tc, actor_id=owner))
    logins = {e["action"] for e in await audit_actions(tc, action="auth.login")}
    assert logins == {"auth.login"}
    await tc.post("/api/v1/auth/login", json={"email": tc.email, "password": "wrong password!"})
    logins = {e["action"] for e in await audit_actions(tc, action="auth.login")}
    assert logins == {"auth.login", "auth.login_failed"}  # a prefix
    assert await audit_actions(tc, action="auth%") == []  # LIKE wildcards are literal
    assert await audit_actions(tc, action="auth_login") == []
    everything = await audit_actions(tc)
    middle = everything[len(everything) // 2]["occurred_at"]
    newer = await audit_actions(tc, since=middle)
    older = await audit_actions(tc, until=middle)
    assert len(newer) + len(older) == len(everything)
    assert all(e["occurred_at"] >= middle for e in newer)
    assert await audit_actions(tc, since="2999-01-01T00:00:00Z") == []
    assert len(await audit_actions(tc, since="2000-01-01T00:00:00")) == len(everything)
    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-01"}, "until"),
        ({"actor_id": "bob"}, "actor_id"),
        ({"cursor": "!!!"}, "cursor"),
    ):
        r = await tc.get("/api/v1/audit-log", params=params)
        assert r.status_code == 422, params
        assert r.json()["errors"][0]["field"] == field
    await other.client.aclose()


async def test_cursor_pages_are_stable_even_with_equal_times(make_tenant: Any) -> None:
    from app.core.audit import AuditEvent
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    same = dt.datetime(2030, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    async with tenant_scope(await tenant_of(tc)):
        for i in range(7):
            await AuditEvent.insert(
                AuditEvent(
                    id=uuid.uuid4(),
                    occurred_at=same,
                    actor_type="system",
                    action="test.tick",
                    data={"i": i},
                )
            )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, "action": "test."}
        if cursor:
            params["cursor"] = cursor
        body = (await tc.get("/api/v1/audit-log", params=params)).json()
        seen += [e["id"] for e in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)  # equal times: id decides, descending
    full = await audit_actions(tc)
    times = [e["occurred_at"] for e in full]
    assert times == sorted(times, reverse=True)


async def test_log_is_per_tenant_and_for_managers_only(two_tenants: Any, app: Any) -> None:
    a, b = two_tenants
    a_ids = {e["id"] for e in await audit_actions(a)}
    b_ids = {e["id"] for e in await audit_actions(b)}
    assert a_ids
    assert b_ids
    assert not a_ids & b_ids
    b_user = (await b.get("/api/v1/auth/me")).json()["id"]
    assert await audit_actions(a, actor_id=b_user) == []
    finance, _ = await signed_in(app, a, "finance")
    assert (await finance.get("/api/v1/audit-log")).status_code == 403
    await finance.client.aclose()


async def test_rows_cannot_be_changed(make_tenant: Any) -> None:
    import asyncpg
    import pytest

    from app.core.audit import AuditEvent
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_scope(await tenant_of(tc)):
            await AuditEvent.update({AuditEvent.action: "rewritten"}).where(
                AuditEvent.action == "auth.login"
            )
    assert all(e["action"] != "rewritten" for e in await audit_actions(tc))
