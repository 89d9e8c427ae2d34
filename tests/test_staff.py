"""Staff invitations and management: invite, accept, roles, deactivation, the last manager."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tests.conftest import PASSWORD, tenant_client
from tests.support.identity import (
    add_user,
    anonymous,
    audit_actions,
    body_text,
    link_token,
    signed_in,
    tenant_of,
)

NEW_PASSWORD = "a quiet meadow under rain"


async def invite(tc: Any, email: str, role: str = "technical", **kw: Any) -> Any:
    return await tc.post("/api/v1/staff/invitations", json={"email": email, "role": role}, **kw)


async def staff_emails(tc: Any) -> list[str]:
    r = await tc.get("/api/v1/staff", params={"limit": 200})
    assert r.status_code == 200, r.text
    return [s["email"] for s in r.json()["items"]]


async def test_done_means(make_tenant: Any, app: Any, inbox: Any, worker: Any) -> None:
    """A manager invites a technician; the technician accepts and signs in; a finance user
    cannot invite staff; all of it is in the audit log."""
    tc = await make_tenant()
    email = f"tech@{tc.slug}.example.com"
    r = await invite(tc, email, "technical")
    assert r.status_code == 201, r.text
    invitation = r.json()
    assert invitation["email"] == email
    assert invitation["role"] == "technical"

    mail = await inbox.wait_for(email)
    assert f"WISP {tc.slug}" in str(mail["Subject"])
    assert f"http://{tc.slug}.localhost:8000/invite/" in body_text(mail)
    token = link_token(mail, "invite")

    visitor = await anonymous(app, tc)
    r = await visitor.post(
        "/api/v1/auth/invitations/accept",
        json={"token": token, "name": "Tina Tech", "password": NEW_PASSWORD},
    )
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "technical"
    technician = await tenant_client(app, tc.slug, email, password=NEW_PASSWORD)
    me = (await technician.get("/api/v1/auth/me")).json()
    assert me["role"] == "technical"
    assert me["name"] == "Tina Tech"

    finance, finance_id = await signed_in(app, tc, "finance")
    r = await invite(finance, f"sneaky@{tc.slug}.example.com", "manager")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert f"sneaky@{tc.slug}.example.com" not in await staff_emails(tc)

    events = await audit_actions(tc)
    seen = {(e["action"], e["actor_label"]) for e in events}
    assert ("invitation.created", tc.email) in seen
    assert ("invitation.accepted", email) in seen
    assert ("auth.login", email) in seen
    denied = [e for e in events if e["action"] == "access.denied"]
    assert [e["actor_id"] for e in denied] == [finance_id]
    assert denied[0]["data"]["route"] == "POST /api/v1/staff/invitations"
    for client in (visitor, technician, finance):
        await client.client.aclose()


async def test_invitation_mail_is_in_the_tenants_language(
    make_tenant: Any, inbox: Any, worker: Any
) -> None:
    tc = await make_tenant(language="es")
    email = f"ventas@{tc.slug}.example.com"
    assert (await invite(tc, email, "sales")).status_code == 201
    mail = await inbox.wait_for(email)
    # The catalog may not hold the new strings yet; the role label is translated already.
    assert "Ventas" in body_text(mail)


async def test_invitation_input_is_checked_and_changes_nothing(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    r = await invite(tc, "not-an-address", "sales")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["email"]
    r = await invite(tc, f"x@{tc.slug}.example.com", "owner")
    assert [e["field"] for e in r.json()["errors"]] == ["role"]
    r = await tc.post("/api/v1/staff/invitations", json={"email": "a@b.example.com"})
    assert r.status_code == 422
    r = await invite(tc, tc.email.upper(), "sales")
    assert r.status_code == 409  # already on the staff
    assert r.json()["field"] == "email"
    assert (await invite(tc, f"twice@{tc.slug}.example.com")).status_code == 201
    assert (await invite(tc, f"twice@{tc.slug}.example.com")).status_code == 409
    listed = (await tc.get("/api/v1/staff/invitations")).json()["items"]
    assert [i["email"] for i in listed] == [f"twice@{tc.slug}.example.com"]


async def test_invitation_honours_idempotency_key(make_tenant: Any) -> None:
    tc = await make_tenant()
    email = f"once@{tc.slug}.example.com"
    first = await invite(tc, email, headers={"Idempotency-Key": "inv-1"})
    again = await invite(tc, email, headers={"Idempotency-Key": "inv-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len((await tc.get("/api/v1/staff/invitations")).json()["items"]) == 1
    created = await audit_actions(tc, action="invitation.created")
    assert len(created) == 1
    other = await invite(tc, f"other@{tc.slug}.example.com", headers={"Idempotency-Key": "inv-1"})
    assert other.status_code == 422


async def _invitation_token(tc: Any, inbox: Any, email: str, role: str = "sales") -> str:
    r = await invite(tc, email, role)
    assert r.status_code == 201, r.text
    return link_token(await inbox.wait_for(email), "invite")


async def test_reused_expired_and_revoked_invitations_change_nothing(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    from app.identity.tables import StaffInvitation
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    visitor = await anonymous(app, tc)

    async def accept(token: str, name: str = "New Person", password: str = NEW_PASSWORD) -> Any:
        return await visitor.post(
            "/api/v1/auth/invitations/accept",
            json={"token": token, "name": name, "password": password},
        )

    used = await _invitation_token(tc, inbox, f"used@{tc.slug}.example.com")
    assert (await accept(used)).status_code == 201
    before = await staff_emails(tc)
    r = await accept(used, name="Someone Else")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "token"
    assert await staff_emails(tc) == before

    expired_email = f"late@{tc.slug}.example.com"
    expired = await _invitation_token(tc, inbox, expired_email)
    async with tenant_scope(await tenant_of(tc)):
        await StaffInvitation.update(
            {StaffInvitation.expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
        ).where(StaffInvitation.email == expired_email)
    r = await accept(expired)
    assert r.status_code == 422
    assert "expired" in r.json()["errors"][0]["message"]
    assert expired_email not in await staff_emails(tc)

    revoked_email = f"revoked@{tc.slug}.example.com"
    revoked = await _invitation_token(tc, inbox, revoked_email)
    pending = (await tc.get("/api/v1/staff/invitations")).json()["items"]
    (target,) = [i for i in pending if i["email"] == revoked_email]
    assert target["sent"] is True
    assert (await tc.delete(f"/api/v1/staff/invitations/{target['id']}")).status_code == 204
    assert (await tc.delete(f"/api/v1/staff/invitations/{target['id']}")).status_code == 204
    assert (await accept(revoked)).status_code == 422
    assert revoked_email not in await staff_emails(tc)
    assert revoked_email not in [
        i["email"] for i in (await tc.get("/api/v1/staff/invitations")).json()["items"]
    ]
    assert (await accept("garbage-token")).status_code == 422
    assert (await accept("")).status_code == 422
    revokes = await audit_actions(tc, action="invitation.revoked")
    assert len(revokes) == 1
    await visitor.client.aclose()


async def test_accepting_checks_name_password_and_existing_staff(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    tc = await make_tenant()
    visitor = await anonymous(app, tc)
    email = f"careful@{tc.slug}.example.com"
    token = await _invitation_token(tc, inbox, email, "finance")

    async def accept(name: str, password: str) -> Any:
        return await visitor.post(
            "/api/v1/auth/invitations/accept",
            json={"token": token, "name": name, "password": password},
        )

    r = await accept("Careful Person", "password123")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["password"]
    r = await accept("", NEW_PASSWORD)
    assert [e["field"] for e in r.json()["errors"]] == ["name"]
    # Meanwhile someone added the same address directly: 409, and the invitation stays unused.
    user_id, _email = await add_user(tc, "sales", email)
    r = await accept("Careful Person", NEW_PASSWORD)
    assert r.status_code == 409
    pending = [i["email"] for i in (await tc.get("/api/v1/staff/invitations")).json()["items"]]
    assert email in pending
    assert (await tc.post(f"/api/v1/staff/{user_id}/deactivate")).status_code == 200
    r = await tc.delete(f"/api/v1/staff/invitations/{(await _pending_id(tc, email))}")
    assert r.status_code == 204
    await visitor.client.aclose()


async def _pending_id(tc: Any, email: str) -> str:
    items = (await tc.get("/api/v1/staff/invitations")).json()["items"]
    return str(next(i["id"] for i in items if i["email"] == email))


async def test_accepted_invitation_cannot_be_revoked(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    tc = await make_tenant()
    email = f"kept@{tc.slug}.example.com"
    token = await _invitation_token(tc, inbox, email)
    invitation_id = await _pending_id(tc, email)
    visitor = await anonymous(app, tc)
    r = await visitor.post(
        "/api/v1/auth/invitations/accept",
        json={"token": token, "name": "Kept", "password": NEW_PASSWORD},
    )
    assert r.status_code == 201
    assert (await tc.delete(f"/api/v1/staff/invitations/{invitation_id}")).status_code == 409
    assert (await tc.delete("/api/v1/staff/invitations/not-a-uuid")).status_code == 404
    await visitor.client.aclose()


async def test_role_change_applies_at_once(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    sales, sales_id = await signed_in(app, tc, "sales")
    r = await tc.patch(f"/api/v1/staff/{sales_id}", json={"name": "  Sam Renamed "})
    assert r.status_code == 200
    assert r.json()["name"] == "Sam Renamed"
    assert (await sales.get("/api/v1/auth/me")).status_code == 200  # a rename keeps sessions
    r = await tc.patch(f"/api/v1/staff/{sales_id}", json={"role": "manager"})
    assert r.status_code == 200
    assert r.json()["role"] == "manager"
    # The cached principal said "sales": that session is gone, the next sign-in is a manager.
    assert (await sales.get("/api/v1/auth/me")).status_code == 401
    again = await tenant_client(app, tc.slug, r.json()["email"])
    assert (await again.get("/api/v1/staff")).status_code == 200
    changes = await audit_actions(tc, action="staff.role_changed")
    assert changes[0]["data"] == {"old": "sales", "new": "manager"}
    assert changes[0]["object_id"] == sales_id
    for c in (sales, again):
        await c.client.aclose()


async def test_patch_input_is_checked(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    user_id, _ = await add_user(tc, "sales")
    r = await tc.patch(f"/api/v1/staff/{user_id}", json={"role": "boss"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "role"
    r = await tc.patch(f"/api/v1/staff/{user_id}", json={"name": " "})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"
    r = await tc.patch(f"/api/v1/staff/{user_id}", json={"email": "x@y.example.com"})
    assert r.status_code == 422
    r = await tc.patch("/api/v1/staff/00000000-0000-0000-0000-000000000000", json={"name": "X"})
    assert r.status_code == 404
    assert (await tc.post("/api/v1/staff/nope/deactivate")).status_code == 404
    rows = (await tc.get("/api/v1/staff", params={"role": "sales"})).json()["items"]
    assert [(s["id"], s["role"], s["name"]) for s in rows] == [(user_id, "sales", "Sales Person")]


async def test_deactivation_ends_sessions_and_sign_in(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    tech, tech_id = await signed_in(app, tc, "technical")
    email = (await tech.get("/api/v1/auth/me")).json()["email"]
    second = await tenant_client(app, tc.slug, email)
    r = await tc.post(f"/api/v1/staff/{tech_id}/deactivate")
    assert r.status_code == 200
    assert r.json()["is_active"] is False
    assert (await tech.get("/api/v1/auth/me")).status_code == 401
    assert (await second.get("/api/v1/auth/me")).status_code == 401
    r = await second.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 401
    inactive = (await tc.get("/api/v1/staff", params={"active": "false"})).json()["items"]
    assert [s["id"] for s in inactive] == [tech_id]
    assert (await tc.post(f"/api/v1/staff/{tech_id}/deactivate")).status_code == 200
    r = await tc.post(f"/api/v1/staff/{tech_id}/reactivate")
    assert r.status_code == 200
    assert r.json()["is_active"] is True
    r = await second.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200
    actions = [e["action"] for e in await audit_actions(tc, action="staff.")]
    assert actions == ["staff.reactivated", "staff.deactivated"]
    for c in (tech, second):
        await c.client.aclose()


async def test_the_last_active_manager_stays(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    me = (await tc.get("/api/v1/auth/me")).json()["id"]
    r = await tc.patch(f"/api/v1/staff/{me}", json={"role": "sales"})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await tc.post(f"/api/v1/staff/{me}/deactivate")).status_code == 409
    # An inactive manager does not count: deactivate a second manager, the owner stays last.
    other, other_id = await signed_in(app, tc, "manager")
    assert (await other.post(f"/api/v1/staff/{other_id}/deactivate")).status_code == 200
    assert (await tc.patch(f"/api/v1/staff/{me}", json={"role": "sales"})).status_code == 409
    assert (await tc.get("/api/v1/auth/me")).json()["role"] == "manager"
    await other.client.aclose()


async def test_two_managers_demoting_each_other_at_once_leave_one(
    make_tenant: Any, app: Any
) -> None:
    from app.identity.tables import StaffUser
    from tenants.scope import tenant_scope

    for round_ in range(4):
        tc = await make_tenant()
        owner_id = (await tc.get("/api/v1/auth/me")).json()["id"]
        second, second_id = await signed_in(app, tc, "manager")
        if round_ % 2:
            calls = (
                tc.patch(f"/api/v1/staff/{second_id}", json={"role": "finance"}),
                second.post(f"/api/v1/staff/{owner_id}/deactivate"),
            )
        else:
            calls = (
                tc.post(f"/api/v1/staff/{second_id}/deactivate"),
                second.patch(f"/api/v1/staff/{owner_id}", json={"role": "sales"}),
            )
        statuses = sorted(r.status_code for r in await asyncio.gather(*calls))
        # One wins; the other is refused (409) or finds its own session already ended (401).
        assert statuses in ([200, 409], [200, 401]), statuses
        async with tenant_scope(await tenant_of(tc)):
            active = await StaffUser.count().where(
                StaffUser.role == "manager", StaffUser.is_active.eq(True)
            )
        assert active == 1
        await second.client.aclose()


async def test_a_sign_in_racing_a_deactivation_leaves_no_session(
    make_tenant: Any, app: Any
) -> None:
    tc = await make_tenant()
    for _ in range(4):
        user_id, email = await add_user(tc, "sales")
        visitor = await anonymous(app, tc)
        signing_in, deactivating = await asyncio.gather(
            visitor.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}),
            tc.post(f"/api/v1/staff/{user_id}/deactivate"),
        )
        assert deactivating.status_code == 200
        assert signing_in.status_code in (200, 401)
        # Whichever came first, the deactivated user holds no live session afterwards.
        assert (await visitor.get("/api/v1/auth/me")).status_code == 401
        await visitor.client.aclose()
