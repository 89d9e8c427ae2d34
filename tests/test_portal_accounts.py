"""Subscriber accounts: invitation, password, sign-in, and the wall between portal and staff."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tests.conftest import Inbox, http
from tests.support.provisioning import (
    active_subscriber,
    assert_unreachable,
    make_plan,
    make_subscriber,
    ok,
    staff,
    tenant_ref,
)

SUB_PASSWORD = "mi casa tiene antena"


def token_from(mail: Any) -> str:
    text = mail.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"/portal/invite/([A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


async def portal_client(tc: Any) -> Any:
    from tests.conftest import TenantClient

    client = http(tc.client._transport.app, tc.host)
    await client.get("/api/v1/portal/me")  # sets the CSRF cookie
    return TenantClient(slug=tc.slug, email="", client=client, host=tc.host)


async def invited(tc: Any, inbox: Inbox, **fields: Any) -> tuple[dict[str, Any], str]:
    plan = await make_plan(tc)
    sub = await make_subscriber(tc, plan["id"], **fields)
    mail = await inbox.wait_for(sub["email"])
    return sub, token_from(mail)


async def test_invitation_sets_a_password_once_and_signs_in(
    make_tenant: Any, worker: Any, inbox: Inbox
) -> None:
    tc = await make_tenant(language="es")
    sub, token = await invited(tc, inbox)
    mail = inbox.to(sub["email"])[-1]
    assert tc.slug in mail.get_body(preferencelist=("plain",)).get_content()
    assert tc.slug in str(mail["Subject"])  # the WISP's name
    visitor = await portal_client(tc)
    weak = await visitor.post(
        "/api/v1/portal/invitations/accept", json={"token": token, "password": "password1"}
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["field"] == "password"
    r = await visitor.post(
        "/api/v1/portal/invitations/accept", json={"token": token, "password": SUB_PASSWORD}
    )
    me = ok(r)
    assert (me["account"]["id"], me["status"]) == (sub["id"], "pending_installation")
    assert me["plan"]["monthly_price"] == "15.00"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert ok(await visitor.get("/api/v1/portal/me")) == me
    again = await visitor.post(
        "/api/v1/portal/invitations/accept", json={"token": token, "password": SUB_PASSWORD + "!"}
    )
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "token"
    await visitor.client.aclose()
    # The password works from a fresh browser; a wrong one and an unknown email say the same.
    fresh = await portal_client(tc)
    wrong = await fresh.post(
        "/api/v1/portal/auth/login", json={"email": sub["email"], "password": "nope nope nope"}
    )
    unknown = await fresh.post(
        "/api/v1/portal/auth/login", json={"email": "ghost@example.com", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    me2 = ok(
        await fresh.post(
            "/api/v1/portal/auth/login",
            json={"email": sub["email"].upper(), "password": SUB_PASSWORD},
        )
    )
    assert me2["account"]["email"] == sub["email"]
    await fresh.client.aclose()


async def test_expired_and_forged_tokens_are_refused(
    make_tenant: Any, worker: Any, inbox: Inbox
) -> None:
    from app.subscribers.tables import SubscriberAccount
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    sub, token = await invited(tc, inbox)
    async with tenant_scope(await tenant_ref(tc)):
        await SubscriberAccount.update(
            {SubscriberAccount.invitation_expires_at: dt.datetime.now(dt.UTC)}
        ).where(SubscriberAccount.subscriber == sub["id"])
    visitor = await portal_client(tc)
    for bad in (token, token[:-2] + "xx", "", "x" * 500):
        r = await visitor.post(
            "/api/v1/portal/invitations/accept", json={"token": bad, "password": SUB_PASSWORD}
        )
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "token"
    # A new invitation (sales resends it) works, and replaces the old link.
    ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/portal-invitation"), 202)

    async def second_mail() -> bool:
        return len(inbox.to(sub["email"])) >= 2

    from tests.conftest import eventually

    await eventually(second_mail)
    new_token = token_from(inbox.to(sub["email"])[-1])
    assert new_token != token
    ok(
        await visitor.post(
            "/api/v1/portal/invitations/accept",
            json={"token": new_token, "password": SUB_PASSWORD},
        )
    )
    r = await tc.post(f"/api/v1/subscribers/{sub['id']}/portal-invitation")
    assert r.status_code == 409  # the password is set already
    await visitor.client.aclose()


async def test_a_subscriber_never_reaches_staff_routes_and_staff_never_act_as_one(
    make_tenant: Any, worker: Any, inbox: Inbox
) -> None:
    tc = await make_tenant()
    sub, token = await invited(tc, inbox)
    visitor = await portal_client(tc)
    ok(
        await visitor.post(
            "/api/v1/portal/invitations/accept", json={"token": token, "password": SUB_PASSWORD}
        )
    )
    wo = sub["installation_work_order_id"]
    for method, path, body in (
        ("GET", "/api/v1/subscribers", None),
        ("GET", f"/api/v1/subscribers/{sub['id']}", None),
        ("PATCH", f"/api/v1/subscribers/{sub['id']}", {"name": "Me"}),
        ("POST", f"/api/v1/subscribers/{sub['id']}/resume", {}),
        ("GET", "/api/v1/rate-plans", None),
        ("GET", f"/api/v1/work-orders/{wo}", None),
        ("GET", f"/api/v1/work-orders/{wo}/photos", None),
        ("POST", f"/api/v1/work-orders/{wo}/sign-off", {"signed_by": "Me"}),
        ("GET", "/api/v1/auth/me", None),
        ("GET", "/api/v1/staff", None),
        ("GET", "/api/v1/sites", None),
    ):
        kwargs = {"json": body} if body is not None else {}
        r = await getattr(visitor, method.lower())(path, **kwargs)
        assert r.status_code == 403, (path, r.text)
    for role in ("manager", "sales", "customer_service"):
        client = tc if role == "manager" else (await staff(tc, role))[0]
        assert (await client.get("/api/v1/portal/me")).status_code == 403, role
    anonymous = await portal_client(tc)
    assert (await anonymous.get("/api/v1/portal/me")).status_code == 401
    await anonymous.client.aclose()
    await visitor.client.aclose()


async def test_cancelling_the_subscriber_ends_the_portal(
    make_tenant: Any, worker: Any, inbox: Inbox
) -> None:
    tc = await make_tenant()
    sub, token = await invited(tc, inbox)
    visitor = await portal_client(tc)
    ok(
        await visitor.post(
            "/api/v1/portal/invitations/accept", json={"token": token, "password": SUB_PASSWORD}
        )
    )
    ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/cancel"))
    assert (await visitor.get("/api/v1/portal/me")).status_code == 401
    r = await visitor.post(
        "/api/v1/portal/auth/login", json={"email": sub["email"], "password": SUB_PASSWORD}
    )
    assert r.status_code == 401
    await visitor.client.aclose()


async def test_portal_sessions_and_tokens_stay_in_their_tenant(
    two_tenants: Any, worker: Any, inbox: Inbox
) -> None:
    a, b = two_tenants
    sub, token = await invited(a, inbox)
    on_b = await portal_client(b)
    r = await on_b.post(
        "/api/v1/portal/invitations/accept", json={"token": token, "password": SUB_PASSWORD}
    )
    assert r.status_code == 422
    on_a = await portal_client(a)
    ok(
        await on_a.post(
            "/api/v1/portal/invitations/accept", json={"token": token, "password": SUB_PASSWORD}
        )
    )
    r = await on_b.post(
        "/api/v1/portal/auth/login", json={"email": sub["email"], "password": SUB_PASSWORD}
    )
    assert r.status_code == 401
    cookie = on_a.client.cookies.get("wisp_session")
    r = await on_b.client.get("/api/v1/portal/me", headers={"Cookie": f"wisp_session={cookie}"})
    assert r.status_code == 401
    await assert_unreachable(
        a, b, [("POST", f"/api/v1/subscribers/{sub['id']}/portal-invitation", None)]
    )
    await on_a.client.aclose()
    await on_b.client.aclose()


async def test_portal_shows_the_active_plan(make_tenant: Any, worker: Any, inbox: Inbox) -> None:
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    token = token_from(await inbox.wait_for(sub["email"]))
    visitor = await portal_client(tc)
    me = ok(
        await visitor.post(
            "/api/v1/portal/invitations/accept", json={"token": token, "password": SUB_PASSWORD}
        )
    )
    assert (me["status"], me["billing_start_date"]) == ("active", sub["billing_start_date"])
    assert (me["plan"]["download_kbps"], me["plan"]["currency"]) == (5000, "USD")
    await visitor.client.aclose()
