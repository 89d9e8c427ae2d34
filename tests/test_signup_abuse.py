"""Anonymous signup cannot be turned into a mailer or a device registry (issue 12, defect 6).

Signups are throttled per client address and per owner email; the owner confirms the address
through the welcome mail's link before the tenant mails anyone else or enrolls gateways; the
company name (attacker-chosen) is never a link in a mail.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import httpx

from tests.conftest import (
    PASSWORD,
    TenantClient,
    confirm_owner,
    eventually,
    tenant_client,
    unique_slug,
)
from tests.support.identity import body_text, client_from, csrf_ready, signed_in, tenant_of

CONFIRM = "/api/v1/signup/confirm"
RESEND = "/api/v1/signup/confirm/resend"
NOT_CONFIRMED = "/problems/email-not-confirmed"


def fresh_address() -> str:
    return f"192.0.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def body(slug: str, **over: Any) -> dict[str, Any]:
    return {
        "company_name": f"WISP {slug}",
        "slug": slug,
        "email": f"owner@{slug}.example.com",
        "password": PASSWORD,
        **over,
    }


async def signup_from(app: Any, address: str, data: dict[str, Any], **kw: Any) -> httpx.Response:
    async with client_from(app, "localhost", address) as base:
        response: httpx.Response = await base.post("/api/v1/signup", json=data, **kw)
        return response


async def confirmation_row(tc: TenantClient) -> dict[str, Any]:
    from tenants.registry import OwnerConfirmation

    tenant = await tenant_of(tc)
    row = await OwnerConfirmation.select().where(OwnerConfirmation.tenant == tenant.id).first()
    assert row is not None
    return dict(row)


async def welcome_token(inbox: Any, email: str) -> tuple[str, str]:
    """The `/confirm/{token}` token of the newest mail to `email` holding one, and its text."""

    def newest() -> str | None:
        texts = [body_text(m) for m in inbox.to(email) if "/confirm/" in body_text(m)]
        return texts[-1] if texts else None

    text: str = await eventually(newest)
    found = re.search(r"/confirm/([A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1), text


async def run_here(actor: Any, *args: Any) -> None:
    """A job's whole body (tenant lookup, scope, after-commit mail) in this process, so the test
    knows it has run; Dramatiq's own wrapper needs a worker's event-loop thread."""
    await actor.fn.__wrapped__(*args)


# Throttling -------------------------------------------------------------------------------------


async def test_defect_6_signup_is_throttled_per_client_address(app: Any) -> None:
    from app.signup.throttle import PER_ADDRESS
    from tenants.registry import tenant_by_slug

    address = fresh_address()
    # Refused input costs nothing: a typo does not use up the allowance.
    for _ in range(3):
        r = await signup_from(app, address, body(unique_slug("thr"), password="short"))
        assert r.status_code == 422
    for _ in range(PER_ADDRESS):
        r = await signup_from(app, address, body(unique_slug("thr")))
        assert r.status_code == 201, r.text
    slug = unique_slug("thr")
    r = await signup_from(app, address, body(slug), headers={"Accept-Language": "es"})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert 60 < int(r.headers["retry-after"]) <= 3600
    assert r.json()["title"] == "Demasiados intentos"
    assert "minutos" in r.json()["detail"]
    assert await tenant_by_slug(slug) is None  # nothing was created
    # Another address is not held back; an IPv6 /64 counts as one address.
    assert (await signup_from(app, fresh_address(), body(slug))).status_code == 201
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    for i in range(PER_ADDRESS):
        r = await signup_from(app, f"{prefix}::{i + 1}", body(unique_slug("thr")))
        assert r.status_code == 201, r.text
    r = await signup_from(app, f"{prefix}::ffff", body(unique_slug("thr")))
    assert r.status_code == 429


async def test_defect_6_signup_is_throttled_per_owner_email(app: Any) -> None:
    from app.signup.throttle import PER_EMAIL

    email = f"victim-{secrets.token_hex(4)}@example.com"
    for _ in range(PER_EMAIL):
        r = await signup_from(app, fresh_address(), body(unique_slug("em"), email=email))
        assert r.status_code == 201, r.text
    r = await signup_from(app, fresh_address(), body(unique_slug("em"), email=email.upper()))
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 3600


async def test_defect_6_a_failed_signup_gives_its_place_back(app: Any) -> None:
    from app.signup.throttle import PER_ADDRESS

    address = fresh_address()
    taken = unique_slug("dup")
    assert (await signup_from(app, fresh_address(), body(taken))).status_code == 201
    for _ in range(PER_ADDRESS + 2):
        # Passes validation, then loses to the existing slug: 409, not counted.
        r = await signup_from(app, address, body(taken, email="x@example.com"))
        assert r.status_code == 409
    for _ in range(PER_ADDRESS):
        assert (await signup_from(app, address, body(unique_slug("dup")))).status_code == 201


# Confirmation -----------------------------------------------------------------------------------


async def test_defect_6_signup_answer_and_welcome_mail_carry_the_confirmation_link(
    app: Any, inbox: Any, worker: Any
) -> None:
    slug = unique_slug("cf")
    data = body(slug, company_name="Free prizes: https://evil.example/win or www.evil.example")
    r = await signup_from(app, fresh_address(), data)
    assert r.status_code == 201, r.text
    portal = f"http://{slug}.localhost:8000"
    assert r.json() == {"slug": slug, "portal_url": portal, "email_confirmed": False}
    tc = await tenant_client(app, slug, data["email"])
    token, text = await welcome_token(inbox, data["email"])
    assert f"{portal}/confirm/{token}" in text
    # Stored hashed, never as sent.
    row = await confirmation_row(tc)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["confirmed_at"] is None and row["owner_email"] == data["email"]
    # The company name is in the mail, defanged: no client can make a link of it.
    mail = [m for m in inbox.to(data["email"]) if "/confirm/" in body_text(m)][-1]
    for part in (text, str(mail["Subject"])):
        assert "evil.example" not in part and "https://evil" not in part
    assert "https[:]//evil[.]example/win or www[.]evil[.]example" in text
    assert "evil[.]example" in str(mail["Subject"])

    # Until confirmed: no staff invitations.
    invite = {"email": f"tech@{slug}.example.com", "role": "technical"}
    r = await tc.post("/api/v1/staff/invitations", json=invite)
    assert r.status_code == 403
    assert r.json()["type"] == NOT_CONFIRMED

    visitor = await tenant_client(app, slug, data["email"], login=False)
    for bad in ("", "x" * 500, token[:-2] + "zz"):
        r = await visitor.post(CONFIRM, json={"token": bad})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "token"
    assert (await confirmation_row(tc))["confirmed_at"] is None
    r = await visitor.post(CONFIRM, json={"token": token})
    assert r.status_code == 200, r.text
    assert r.json() == {"email_confirmed": True}
    again = await visitor.post(CONFIRM, json={"token": token})  # a second click: fine
    assert again.status_code == 200
    assert (await confirmation_row(tc))["confirmed_at"] is not None
    events = await tc.get("/api/v1/audit-log", params={"action": "tenant.owner_email_confirmed"})
    assert len(events.json()["items"]) == 1
    assert (await tc.post("/api/v1/staff/invitations", json=invite)).status_code == 201
    assert (await tc.post(RESEND)).status_code == 409  # nothing left to confirm
    await visitor.client.aclose()
    await tc.client.aclose()


async def test_defect_6_an_expired_link_is_refused_and_a_new_one_can_be_mailed(
    make_tenant: Any, inbox: Any, worker: Any
) -> None:
    from tenants.registry import OwnerConfirmation

    tc = await make_tenant(confirmed=False)
    tenant = await tenant_of(tc)
    old, _text = await welcome_token(inbox, tc.email)
    await OwnerConfirmation.update(
        {OwnerConfirmation.expires_at: OwnerConfirmation.created_at}
    ).where(OwnerConfirmation.tenant == tenant.id)
    assert (await tc.post(CONFIRM, json={"token": old})).status_code == 422
    r = await tc.post(RESEND)
    assert r.status_code == 202, r.text
    r = await tc.post(RESEND)  # at once again: too soon
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60

    async def newer() -> str | None:
        for m in inbox.to(tc.email):
            found = re.search(r"/confirm/([A-Za-z0-9_-]+)", body_text(m))
            if found and found.group(1) != old:
                return found.group(1)
        return None

    new = await eventually(newer)
    assert (await tc.post(CONFIRM, json={"token": old})).status_code == 422  # replaced
    assert (await tc.post(CONFIRM, json={"token": new})).status_code == 200


async def test_defect_6_until_confirmed_the_tenant_mails_only_its_owner_and_adds_no_gateway(
    make_tenant: Any, app: Any, inbox: Any
) -> None:
    from app.subscribers.tables import SubscriberAccount
    from app.subscribers.tasks import send_portal_invitation
    from tenants.confirmation import may_mail
    from tenants.scope import tenant_scope
    from tests.support.provisioning import make_plan, make_subscriber

    tc = await make_tenant(language="es", confirmed=False)
    tenant = await tenant_of(tc)
    r = await tc.post("/api/v1/staff/invitations", json={"email": "x@example.com", "role": "sales"})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == NOT_CONFIRMED
    assert "Confirme" in r.json()["detail"]  # translated
    r = await tc.post("/api/v1/gateways", json={"name": "NOC"})
    assert r.status_code == 403
    assert r.json()["type"] == NOT_CONFIRMED
    assert (await tc.get("/api/v1/gateways")).json()["items"] == []

    # A subscriber can be added; the portal invitation is held, not mailed.
    sub = await make_subscriber(tc, (await make_plan(tc))["id"])
    r = await tc.post(f"/api/v1/subscribers/{sub['id']}/portal-invitation")
    assert r.status_code == 403
    await run_here(send_portal_invitation, str(tenant.id), sub["id"])
    async with tenant_scope(tenant):
        assert not await may_mail(tenant, sub["email"])
        assert await may_mail(tenant, tc.email.upper())
        account = (
            await SubscriberAccount.select()
            .where(SubscriberAccount.subscriber == sub["id"])
            .first()
        )
    assert account is not None and account["invitation_hash"] is None
    assert inbox.to(sub["email"]) == []

    await confirm_owner(tc.slug)
    await run_here(send_portal_invitation, str(tenant.id), sub["id"])
    await inbox.wait_for(sub["email"])
    created = await tc.post("/api/v1/gateways", json={"name": "NOC"})
    assert created.status_code == 201, created.text
    # A token issued while confirmed is refused at enrollment if the tenant is unconfirmed.
    from tenants.registry import OwnerConfirmation

    await OwnerConfirmation.update({OwnerConfirmation.confirmed_at: None}).where(
        OwnerConfirmation.tenant == tenant.id
    )
    r = await tc.client.post(
        "/gateway/v1/enroll", json={"token": created.json()["enrollment_token"]}
    )
    assert r.status_code == 403
    assert r.json()["type"] == NOT_CONFIRMED
    r = await tc.post(f"/api/v1/gateways/{created.json()['id']}/enrollment-token")
    assert r.status_code == 403


async def test_defect_6_confirmation_routes_stay_in_their_tenant_and_role(
    make_tenant: Any, app: Any, inbox: Any, worker: Any
) -> None:
    from tests.support.provisioning import intruder

    a = await make_tenant(confirmed=False)
    b = await make_tenant(confirmed=False)
    token_a, _text = await welcome_token(inbox, a.email)
    # A's token on B's host confirms nothing anywhere.
    assert (await b.post(CONFIRM, json={"token": token_a})).status_code == 422
    assert (await confirmation_row(a))["confirmed_at"] is None
    assert (await confirmation_row(b))["confirmed_at"] is None
    # A's session on B's host cannot ask B's owner for mail.
    stranger = await intruder(a, b)
    r = await stranger.post(RESEND)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    await stranger.client.aclose()
    # Only a manager may ask for a new link; signup routes need their own kind of host.
    sales, _id = await signed_in(app, b, "sales")
    assert (await sales.post(RESEND)).status_code == 403
    await sales.client.aclose()
    async with client_from(app, "localhost", fresh_address()) as base:
        headers = await csrf_ready(base)
        r = await base.post(CONFIRM, json={"token": token_a}, headers=headers)
        assert r.status_code == 404
    # And on A's own host it works.
    assert (await a.post(CONFIRM, json={"token": token_a})).status_code == 200


async def test_defect_6_the_demo_tenant_is_created_confirmed() -> None:
    from app.seed import DEMO_SLUG, seed_demo
    from tenants.confirmation import is_confirmed
    from tenants.registry import tenant_by_slug

    await seed_demo()
    tenant = await tenant_by_slug(DEMO_SLUG)
    assert tenant is not None
    assert await is_confirmed(tenant)


def test_defect_6_company_names_are_defanged_but_ordinary_names_kept() -> None:
    from app.core.mailtext import unlinkable

    assert unlinkable("Acme Wireless S.A.") == "Acme Wireless S.A."
    assert unlinkable("Net 2.0 & Co") == "Net 2.0 & Co"
    assert unlinkable("evil.example") == "evil[.]example"
    assert unlinkable("https://x.example/a") == "https[:]//x[.]example/a"
    assert unlinkable("win at www.example.com") == "win at www[.]example[.]com"
    assert unlinkable("ｅｖｉｌ．ｃｏｍ") == "evil[.]com"  # full-width forms
    assert unlinkable("evil。com") == "evil[.]com"  # an ideographic full stop
    assert unlinkable("mailto:a@b.example") == "mailto[:]a@b[.]example"
    assert unlinkable("two\nlines") == "two lines"
