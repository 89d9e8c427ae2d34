"""Defect 5 of issue 12: every creating POST honours `Idempotency-Key`. A retried credit note,
billing run, invitation acceptance, CSV import or portal invitation answers what the first did
and writes nothing more; the same key with another body is refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.billing_support import add_plan, add_subscriber, fetch, tenant_of
from tests.support.identity import anonymous, audit_actions, link_token
from tests.support.provisioning import make_plan, make_subscriber, ok


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def billed_invoice(tc: Any) -> dict[str, Any]:
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "30.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 10))
    ok(await tc.post("/api/v1/billing/runs", json={"as_of": "2026-01-10"}), 201)
    (invoice,) = ok(await tc.get(f"/api/v1/invoices?subscriber_id={sid}&kind=invoice"))["items"]
    return dict(invoice)


async def credit_notes(tc: Any) -> list[dict[str, Any]]:
    return list(ok(await tc.get("/api/v1/invoices?kind=credit_note"))["items"])


async def test_defect_5_a_retried_credit_note_issues_one_numbered_note(two_tenants: Any) -> None:
    a, b = two_tenants
    invoice = await billed_invoice(a)
    path = f"/api/v1/invoices/{invoice['id']}/credit-notes"
    body = {"reason": "outage 3 days", "amount": "3.00"}
    first = await a.post(path, json=body, headers=key("cn-1"))
    again = await a.post(path, json=body, headers=key("cn-1"))
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    assert len(await credit_notes(a)) == 1
    after = ok(await a.get(f"/api/v1/invoices/{invoice['id']}"))
    assert after["balance"] == "27.00"  # credited once
    # The same key with another body is a client bug: refused, nothing issued.
    r = await a.post(path, json={**body, "amount": "4.00"}, headers=key("cn-1"))
    assert r.status_code == 422
    assert r.json()["type"] == "/problems/idempotency-key-reused"
    # The next note takes the next number: no number was spent on the retry.
    second = ok(await a.post(path, json=body, headers=key("cn-2")), 201)
    numbers = sorted(int(n["number"].rsplit("-", 1)[1]) for n in await credit_notes(a))
    assert numbers == [numbers[0], numbers[0] + 1]
    assert second["id"] != first.json()["id"]
    # Keys are the tenant's own: B's same key issues B's own note; A's invoice is not B's.
    b_invoice = await billed_invoice(b)
    b_path = f"/api/v1/invoices/{b_invoice['id']}/credit-notes"
    b_note = ok(await b.post(b_path, json=body, headers=key("cn-1")), 201)
    assert b_note["corrects_id"] == b_invoice["id"]
    assert (await b.post(path, json=body, headers=key("cn-1"))).status_code == 404
    assert len(await credit_notes(a)) == 2
    assert len(await credit_notes(b)) == 1


async def test_defect_5_a_retried_billing_run_is_the_same_run(two_tenants: Any) -> None:
    a, b = two_tenants
    tenant = await tenant_of(a)
    plan = await add_plan(tenant, "25.00")
    await add_subscriber(tenant, plan, dt.date(2026, 3, 1))
    body = {"as_of": "2026-03-15"}
    first = await a.post("/api/v1/billing/runs", json=body, headers=key("run-1"))
    again = await a.post("/api/v1/billing/runs", json=body, headers=key("run-1"))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["invoiced"] == first.json()["invoiced"] == 1
    runs = await fetch(tenant, "SELECT id FROM billing_run")
    assert [str(r["id"]) for r in runs] == [first.json()["id"]]
    r = await a.post("/api/v1/billing/runs", json={"as_of": "2026-03-16"}, headers=key("run-1"))
    assert r.status_code == 422
    assert len(await fetch(tenant, "SELECT id FROM billing_run")) == 1
    # B's runs are B's: its same key starts its own run; A's run is unknown there.
    b_run = ok(await b.post("/api/v1/billing/runs", json=body, headers=key("run-1")), 201)
    assert b_run["id"] != first.json()["id"]
    assert (await b.get(f"/api/v1/billing/runs/{first.json()['id']}")).status_code == 404


async def test_defect_5_a_retried_invitation_acceptance_creates_one_user(
    two_tenants: Any, app: Any, inbox: Any, worker: Any
) -> None:
    a, b = two_tenants
    email = f"tech@{a.slug}.example.com"
    ok(await a.post("/api/v1/staff/invitations", json={"email": email, "role": "technical"}), 201)
    token = link_token(await inbox.wait_for(email), "invite")
    visitor = await anonymous(app, a)
    body = {"token": token, "name": "Tina Tech", "password": "a quiet meadow under rain"}
    path = "/api/v1/auth/invitations/accept"
    first = await visitor.post(path, json=body, headers=key("acc-1"))
    again = await visitor.post(path, json=body, headers=key("acc-1"))
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    assert first.json()["email"] == email
    staff = ok(await a.get("/api/v1/staff", params={"limit": 200}))["items"]
    assert [s["email"] for s in staff].count(email) == 1
    accepted = await audit_actions(a, action="invitation.accepted")
    assert len(accepted) == 1
    # Without the key the token is spent; with the key but another body, refused.
    assert (await visitor.post(path, json=body)).status_code == 422
    r = await visitor.post(path, json={**body, "name": "Someone Else"}, headers=key("acc-1"))
    assert r.json()["type"] == "/problems/idempotency-key-reused"
    # The key's record holds neither the token nor the password.
    rows = await fetch(
        await tenant_of(a), "SELECT key, request_hash, response::text AS r FROM idempotency_record"
    )
    assert not any(token in str(dict(r)) or body["password"] in str(dict(r)) for r in rows)
    # A's token on B's host is nobody's there, key or not.
    stranger = await anonymous(app, b)
    assert (await stranger.post(path, json=body, headers=key("acc-1"))).status_code == 422
    assert email not in [s["email"] for s in ok(await b.get("/api/v1/staff"))["items"]]
    for client in (visitor, stranger):
        await client.client.aclose()


async def test_defect_5_a_retried_import_answers_the_first_report(two_tenants: Any) -> None:
    a, b = two_tenants
    await make_plan(a, name="Basic")
    body = b"name,email,plan\nAna,ana@example.com,Basic\nBruno,bruno@example.com,Basic\n"
    path = "/api/v1/subscribers/import"
    first = ok(await a.post(path, content=body, headers=key("imp-1")))
    again = ok(await a.post(path, content=body, headers=key("imp-1")))
    assert (
        first
        == again
        == {
            "dry_run": False,
            "rows": 2,
            "created": 2,
            "existing": 0,
            "errors": [],
        }
    )
    plain = ok(await a.post(path, content=body))  # without a key: a re-run, matched
    assert (plain["created"], plain["existing"]) == (0, 2)
    r = await a.post(path, content=body + b"Carla,carla@example.com,Basic\n", headers=key("imp-1"))
    assert r.status_code == 422
    assert r.json()["type"] == "/problems/idempotency-key-reused"
    assert len(ok(await a.get("/api/v1/subscribers"))["items"]) == 2
    # A dry run claims no key: the import sent with it afterwards is not its replay. (B's
    # keys are B's own: A's "imp-1" means nothing there.)
    await make_plan(b, name="Basic")
    dry = ok(await b.post(path + "?dry_run=true", content=body, headers=key("imp-1")))
    assert (dry["dry_run"], dry["created"]) == (True, 2)
    assert ok(await b.get("/api/v1/subscribers"))["items"] == []
    done = ok(await b.post(path, content=body, headers=key("imp-1")))
    assert (done["dry_run"], done["created"]) == (False, 2)


async def test_defect_5_a_retried_portal_invitation_is_mailed_once(two_tenants: Any) -> None:
    a, b = two_tenants
    sub = await make_subscriber(a, (await make_plan(a))["id"])
    path = f"/api/v1/subscribers/{sub['id']}/portal-invitation"
    assert (await a.post(path, headers=key("inv-1"))).status_code == 202
    assert (await a.post(path, headers=key("inv-1"))).status_code == 202
    invites = await audit_actions(a, action="subscriber.invite")
    assert len(invites) == 1
    assert (await a.post(path)).status_code == 202
    assert len(await audit_actions(a, action="subscriber.invite")) == 2
    assert (await b.post(path, headers=key("inv-1"))).status_code == 404


async def test_defect_5_a_retried_signup_answers_the_first_signup(app: Any) -> None:
    from tests.conftest import PASSWORD, http, tenant_client, unique_slug

    slug = unique_slug()
    body = {
        "company_name": f"WISP {slug}",
        "slug": slug,
        "email": f"owner@{slug}.example.com",
        "password": PASSWORD,
    }
    async with http(app) as base:
        first = await base.post("/api/v1/signup", json=body, headers=key("signup-1"))
        again = await base.post("/api/v1/signup", json=body, headers=key("signup-1"))
        assert first.status_code == again.status_code == 201, again.text
        assert (
            first.json()
            == again.json()
            == {
                "slug": slug,
                "portal_url": f"http://{slug}.localhost:8000",
                "email_confirmed": False,
            }
        )
        # Without the key the address is taken; with it but another body, refused.
        assert (await base.post("/api/v1/signup", json=body)).status_code == 409
        other = {**body, "company_name": "Someone Else"}
        r = await base.post("/api/v1/signup", json=other, headers=key("signup-1"))
        assert r.json()["type"] == "/problems/idempotency-key-reused"
        # Another slug with the same key is another signup, not a replay of this one.
        second_slug = unique_slug()
        second = {**body, "slug": second_slug, "email": f"owner@{second_slug}.example.com"}
        r = await base.post("/api/v1/signup", json=second, headers=key("signup-1"))
        assert r.status_code == 201 and r.json()["slug"] == second_slug
    owner = await tenant_client(app, slug, body["email"])
    staff = ok(await owner.get("/api/v1/staff"))["items"]
    assert [s["email"] for s in staff] == [body["email"]]  # one owner: one signup
    records = await fetch(await tenant_of(owner), "SELECT request_hash FROM idempotency_record")
    assert len(records) == 1
    await owner.client.aclose()
