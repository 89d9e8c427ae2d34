"""Billing through the API: exactly-once invoices, gapless numbers, payments, suspension."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.billing_support import add_plan, add_subscriber, fetch, status_of, tenant_of


async def run(tc: Any, as_of: dt.date) -> dict[str, Any]:
    r = await tc.post("/api/v1/billing/runs", json={"as_of": as_of.isoformat()})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def invoices_of(tc: Any, sid: uuid.UUID) -> list[dict[str, Any]]:
    r = await tc.get(f"/api/v1/invoices?subscriber_id={sid}&limit=200")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_one_invoice_per_cycle_over_months(make_tenant: Any) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "15.00", setup_fee="50.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 31))
    day = dt.date(2026, 1, 31)
    while day <= dt.date(2026, 6, 30):  # a controllable clock: every day of five months
        await run(tc, day)
        day += dt.timedelta(days=1)
    invoices = sorted(await invoices_of(tc, sid), key=lambda i: i["issue_date"])
    assert [i["period_start"] for i in invoices] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
    ]
    assert invoices[0]["total"] == "65.00"  # setup fee on the first invoice only
    assert {i["total"] for i in invoices[1:]} == {"15.00"}
    numbers = [int(i["number"].rsplit("-", 1)[1]) for i in invoices]
    assert numbers == list(range(numbers[0], numbers[0] + 6))  # gapless
    again = await run(tc, dt.date(2026, 6, 30))
    assert again["invoiced"] == 0
    assert len(await invoices_of(tc, sid)) == 6


async def test_eight_concurrent_runs_create_each_invoice_once(make_tenant: Any) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "25.00")
    subs = [await add_subscriber(tenant, plan, dt.date(2026, 3, d)) for d in range(1, 11)]
    results = await asyncio.gather(
        *(tc.post("/api/v1/billing/runs", json={"as_of": "2026-03-15"}) for _ in range(8))
    )
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    assert sum(r.json()["invoiced"] for r in results) == 10
    rows = await fetch(tenant, "SELECT number FROM invoice ORDER BY number")
    assert [r["number"] for r in rows] == list(range(1, 11))
    assert len(subs) == 10


async def test_rolled_back_numbering_leaves_no_gap(make_tenant: Any) -> None:
    from app.billing.numbering import next_number
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    with pytest.raises(RuntimeError):
        async with tenant_scope(tenant) as scope:
            assert await next_number(scope.connection, "INV", 2026) == 1
            raise RuntimeError("crash mid-finalisation")
    async with tenant_scope(tenant) as scope:
        assert await next_number(scope.connection, "INV", 2026) == 1
        assert await next_number(scope.connection, "INV", 2026) == 2
        assert await next_number(scope.connection, "INV", 2027) == 1


async def test_fixed_day_policy_prorates_the_first_period(make_tenant: Any) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    r = await tc.patch(
        "/api/v1/billing/settings",
        json={"billing_policy": "fixed_day", "billing_day": 1, "tax_rate": "10"},
    )
    assert r.status_code == 200, r.text
    plan = await add_plan(tenant, "31.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 3, 22))
    await run(tc, dt.date(2026, 4, 1))
    first, second = sorted(await invoices_of(tc, sid), key=lambda i: i["period_start"])
    assert (first["period_start"], first["period_end"]) == ("2026-03-22", "2026-04-01")
    assert first["subtotal"] == "10.00"  # 10 of March's 31 days
    assert first["tax_total"] == "1.00"
    assert second["subtotal"] == "31.00"
    detail = (await tc.get(f"/api/v1/invoices/{first['id']}")).json()
    assert detail["lines"][0]["kind"] == "proration"


async def test_payments_oldest_first_credit_and_replays(make_tenant: Any) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "20.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 5))
    await run(tc, dt.date(2026, 2, 5))
    pay = {
        "subscriber_id": str(sid),
        "amount": "50.00",
        "method": "bank_transfer",
        "reference": f"TRX-{sid.hex[:8]}",
        "paid_on": "2026-02-06",
    }
    r = await tc.post("/api/v1/payments", json=pay)
    assert r.status_code == 201, r.text
    body = r.json()
    assert [a["amount"] for a in body["allocations"]] == ["20.00", "20.00"]
    assert body["unallocated"] == "10.00"
    # The same (method, reference) counts once.
    again = await tc.post("/api/v1/payments", json=pay)
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    # An Idempotency-Key replay answers the same and posts nothing.
    cash = {"subscriber_id": str(sid), "amount": "5.00", "method": "cash"}
    first = await tc.post("/api/v1/payments", json=cash, headers={"Idempotency-Key": "k-1"})
    replay = await tc.post("/api/v1/payments", json=cash, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and replay.status_code == 200
    assert first.json()["id"] == replay.json()["id"]
    rows = await fetch(tenant, "SELECT count(*) AS n FROM payment")
    assert rows[0]["n"] == 2
    # Credit (10 + 5) pays part of the next invoice.
    await run(tc, dt.date(2026, 3, 5))
    latest = max(await invoices_of(tc, sid), key=lambda i: i["issue_date"])
    assert latest["amount_paid"] == "15.00" and latest["balance"] == "5.00"
    # Reversing the transfer reopens what it paid.
    r = await tc.post(f"/api/v1/payments/{body['id']}/reverse", json={"reason": "bounced"})
    assert r.status_code == 200 and r.json()["status"] == "reversed"
    statuses = sorted(i["status"] for i in await invoices_of(tc, sid))
    assert statuses.count("open") >= 2


async def test_bad_payments_change_nothing(make_tenant: Any) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "20.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 5))
    for bad, field in (
        ({"amount": 20.0}, "amount"),
        ({"amount": "20.001"}, "amount"),
        ({"amount": "-3.00"}, "amount"),
        ({"method": "barter"}, "method"),
        ({"paid_on": "2999-01-01"}, "paid_on"),
        ({"subscriber_id": "nope"}, "subscriber_id"),
    ):
        body = {"subscriber_id": str(sid), "amount": "20.00", "method": "cash", **bad}
        r = await tc.post("/api/v1/payments", json=body)
        assert r.status_code == 422, (bad, r.text)
        assert field in [e["field"] for e in r.json()["errors"]]
    r = await tc.post(
        "/api/v1/payments",
        json={"subscriber_id": str(uuid.uuid4()), "amount": "1.00", "method": "cash"},
    )
    assert r.status_code == 404
    assert (await fetch(tenant, "SELECT count(*) AS n FROM payment"))[0]["n"] == 0


async def test_suspension_after_grace_and_reactivation_on_payment(make_tenant: Any) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    await tc.patch(
        "/api/v1/billing/settings",
        json={"payment_terms_days": 10, "grace_days": 5, "max_suspension_share": "1"},
    )
    plan = await add_plan(tenant, "15.00")
    late = await add_subscriber(tenant, plan, dt.date(2026, 5, 1))
    payer = await add_subscriber(tenant, plan, dt.date(2026, 5, 1))
    exempt = await add_subscriber(tenant, plan, dt.date(2026, 5, 1))
    await run(tc, dt.date(2026, 5, 1))
    await tc.post(
        "/api/v1/payments",
        json={
            "subscriber_id": str(payer),
            "amount": "15.00",
            "method": "cash",
            "paid_on": "2026-05-02",
        },
    )
    r = await tc.post(
        f"/api/v1/subscribers/{exempt}/suspension-exemption",
        json={"until": "2026-06-30", "reason": "hospital stay"},
    )
    assert r.status_code == 200, r.text
    assert (await run(tc, dt.date(2026, 5, 16)))["suspended"] == 0  # due 11th + 5 grace
    report = await run(tc, dt.date(2026, 5, 17))
    assert report["suspended"] == 1
    assert await status_of(tenant, late) == ("suspended", "non_payment")
    assert await status_of(tenant, payer) == ("active", None)
    assert await status_of(tenant, exempt) == ("active", None)
    # The gateways' desired state says so.
    entries = await fetch(
        tenant,
        "SELECT enabled, reason FROM netstate_change"
        " WHERE subscriber_id = $1 ORDER BY version DESC LIMIT 1",
        late,
    )
    assert (entries[0]["enabled"], entries[0]["reason"]) == (False, "non_payment")
    # A payment that clears the overdue balance reactivates at once, with the gateways.
    r = await tc.post(
        "/api/v1/payments", json={"subscriber_id": str(late), "amount": "15.00", "method": "cash"}
    )
    assert r.json()["subscriber_status"] == "active"
    entries = await fetch(
        tenant,
        "SELECT enabled, reason FROM netstate_change"
        " WHERE subscriber_id = $1 ORDER BY version DESC LIMIT 1",
        late,
    )
    assert (entries[0]["enabled"], entries[0]["reason"]) == (True, None)
    history = await fetch(
        tenant,
        "SELECT action FROM audit_event WHERE object_id = $1 ORDER BY occurred_at",
        str(late),
    )
    assert [h["action"] for h in history][-2:] == ["subscriber.suspend", "subscriber.resume"]


async def test_mass_suspension_is_halted_and_managers_alerted(
    make_tenant: Any, inbox: Any, worker: Any
) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    await tc.patch(
        "/api/v1/billing/settings",
        json={"payment_terms_days": 0, "grace_days": 0, "max_suspension_share": "0.5"},
    )
    plan = await add_plan(tenant, "15.00")
    subs = [await add_subscriber(tenant, plan, dt.date(2026, 5, 1)) for _ in range(4)]
    await run(tc, dt.date(2026, 5, 1))
    report = await run(tc, dt.date(2026, 5, 2))
    assert report["suspended"] == 0 and report["status"] == "halted"
    assert "4 of 4" in report["halted_reason"]
    assert [(await status_of(tenant, s))[0] for s in subs] == ["active"] * 4
    alert = await inbox.wait_for(tc.email, subject="suspensions stopped")
    assert "4 of 4" in alert.get_content()


async def test_void_and_credit_note(make_tenant: Any) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "30.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 10))
    await run(tc, dt.date(2026, 2, 10))
    first, second = sorted(await invoices_of(tc, sid), key=lambda i: i["period_start"])
    r = await tc.post(f"/api/v1/invoices/{first['id']}/void", json={"reason": "wrong plan"})
    assert r.status_code == 200 and r.json()["status"] == "void"
    assert r.json()["number"] == first["number"]  # a voided invoice keeps its number
    r = await tc.post(f"/api/v1/invoices/{first['id']}/void", json={"reason": "again"})
    assert r.status_code == 409
    r = await tc.post(
        f"/api/v1/invoices/{second['id']}/credit-notes",
        json={"reason": "outage 3 days", "amount": "3.00"},
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["kind"] == "credit_note" and note["number"].startswith("CN-")
    assert note["corrects_id"] == second["id"]
    after = (await tc.get(f"/api/v1/invoices/{second['id']}")).json()
    assert after["balance"] == "27.00" and after["total"] == "30.00"  # the invoice is unchanged
    r = await tc.post(
        f"/api/v1/invoices/{second['id']}/credit-notes",
        json={"reason": "too much", "amount": "28.00"},
    )
    assert r.status_code == 422


async def test_roles_and_other_tenants(make_tenant: Any, app: Any) -> None:
    from app.identity.actions import add_staff
    from tenants.scope import tenant_scope
    from tests.conftest import PASSWORD, tenant_client

    a, b = await make_tenant(), await make_tenant()
    ta = await tenant_of(a)
    plan = await add_plan(ta, "10.00")
    sid = await add_subscriber(ta, plan, dt.date(2026, 1, 1))
    await run(a, dt.date(2026, 1, 1))
    invoice = (await invoices_of(a, sid))[0]
    async with tenant_scope(ta):
        await add_staff(f"sales@{a.slug}.example.com", "S", "sales", PASSWORD)
        await add_staff(f"fin@{a.slug}.example.com", "F", "finance", PASSWORD)
    sales = await tenant_client(app, a.slug, f"sales@{a.slug}.example.com")
    finance = await tenant_client(app, a.slug, f"fin@{a.slug}.example.com")
    pay = {"subscriber_id": str(sid), "amount": "10.00", "method": "cash"}
    assert (await sales.post("/api/v1/payments", json=pay)).status_code == 403
    assert (await sales.get("/api/v1/invoices")).status_code == 403
    assert (await finance.get(f"/api/v1/invoices/{invoice['id']}")).status_code == 200
    # Tenant B's manager, with A's ids: not found, and nothing changes.
    assert (await b.get(f"/api/v1/invoices/{invoice['id']}")).status_code == 404
    assert (await b.post("/api/v1/payments", json=pay)).status_code == 404
    assert (
        await b.post(f"/api/v1/invoices/{invoice['id']}/void", json={"reason": "x"})
    ).status_code == 404
    assert (await b.get("/api/v1/invoices")).json()["items"] == []
    assert (await fetch(ta, "SELECT status FROM invoice"))[0]["status"] == "open"
    for c in (sales, finance):
        await c.client.aclose()


async def test_future_runs_refused_unless_allowed(make_tenant: Any, monkeypatch: Any) -> None:
    import dataclasses

    from app.billing import runs
    from app.core.config import get_settings

    tc = await make_tenant()
    strict = dataclasses.replace(get_settings(), allow_future_billing=False)
    monkeypatch.setattr(runs, "get_settings", lambda: strict)
    future = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    r = await tc.post("/api/v1/billing/runs", json={"as_of": future})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "as_of"


async def test_money_in_zero_and_three_decimal_currencies(make_tenant: Any) -> None:
    for currency, price, expect in (("CLP", "15990", "15990"), ("KWD", "4.125", "4.125")):
        tc = await make_tenant()
        assert (
            await tc.patch("/api/v1/billing/settings", json={"currency": currency})
        ).status_code == 200
        from tenants import hosts

        hosts.forget()
        tenant = await tenant_of(tc)
        assert tenant.currency == currency
        plan = await add_plan(tenant, price)
        sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 1))
        await run(tc, dt.date(2026, 1, 1))
        inv = (await invoices_of(tc, sid))[0]
        assert inv["total"] == expect and inv["currency"] == currency
        assert Decimal(inv["total"]) == Decimal(price)


async def test_reports_and_exports_reconcile(make_tenant: Any) -> None:
    import csv
    import io

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    await tc.patch("/api/v1/billing/settings", json={"payment_terms_days": 10})
    plan = await add_plan(tenant, "20.00", tax_rate="16")
    a = await add_subscriber(tenant, plan, dt.date(2026, 1, 1), name="=HYPERLINK(evil)")
    b = await add_subscriber(tenant, plan, dt.date(2026, 1, 15))
    await run(tc, dt.date(2026, 3, 1))
    await tc.post(
        "/api/v1/payments",
        json={
            "subscriber_id": str(a),
            "amount": "30.00",
            "method": "cash",
            "paid_on": "2026-03-01",
        },
    )
    inv = sorted(await invoices_of(tc, b), key=lambda i: i["period_start"])[0]
    await tc.post(f"/api/v1/invoices/{inv['id']}/credit-notes", json={"reason": "outage"})
    r = await tc.get("/api/v1/reports/billing/exports/invoices")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    every = [i for s in (a, b) for i in await invoices_of(tc, s)]
    api_total = sum(Decimal(i["total"]) for i in every if i["kind"] == "invoice")
    assert sum(Decimal(row["total"]) for row in rows) == api_total
    assert all(
        Decimal(row["subtotal"]) + Decimal(row["tax"]) == Decimal(row["total"]) for row in rows
    )
    assert any(row["bill_to"].startswith("'=") for row in rows)  # no formula injection
    pays = list(
        csv.DictReader(io.StringIO((await tc.get("/api/v1/reports/billing/exports/payments")).text))
    )
    assert [p["amount"] for p in pays] == ["30.00"]
    notes = list(
        csv.DictReader(
            io.StringIO((await tc.get("/api/v1/reports/billing/exports/credit-notes")).text)
        )
    )
    assert len(notes) == 1 and notes[0]["corrects"] == inv["number"]
    aging = (await tc.get("/api/v1/reports/billing/aging?as_of=2026-03-01")).json()
    open_total = sum(Decimal(i["balance"]) for i in every if i["status"] == "open")
    assert Decimal(aging["total"]) == open_total
    assert {bk["bucket"] for bk in aging["buckets"]} == {"current", "1-30", "31-60", "61-90", "90+"}
    report = (await tc.get("/api/v1/reports/billing/subscribers")).json()
    assert {r["subscriber_id"] for r in report} == {str(a), str(b)}
    assert (await tc.get("/api/v1/reports/billing/exports/secrets")).status_code == 422


async def test_cli_billing_run(make_tenant: Any) -> None:
    import os
    import subprocess
    import sys

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "15.00")
    await add_subscriber(tenant, plan, dt.date(2026, 2, 1))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "billing",
            "run",
            "--tenant",
            tc.slug,
            "--as-of",
            "2026-03-01",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 invoiced" in out.stdout
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "billing",
            "run",
            "--tenant",
            "nobody-at-all",
            "--as-of",
            "2026-03-01",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert out.returncode == 1


async def test_plan_change_after_invoicing_is_corrected_on_the_next_invoice(
    make_tenant: Any,
) -> None:
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    cheap = await add_plan(tenant, "30.00", name="Tier 1")
    fast = await add_plan(tenant, "60.00", name="Tier 3")
    sid = await add_subscriber(tenant, cheap, dt.date(2026, 4, 1))
    await run(tc, dt.date(2026, 4, 1))  # April billed at 30.00 in advance
    # Upgraded on April 16, recorded after April's invoice went out: 15 of 30 days at 60.00.
    async with __import__("tenants.scope", fromlist=["tenant_scope"]).tenant_scope(tenant) as s:
        await s.connection.execute(
            "INSERT INTO plan_change (id, subscriber, from_plan, to_plan, effective_date,"
            " created_at, applied_at) VALUES ($1, $2, $3, $4, '2026-04-16', now(), now())",
            uuid.uuid4(),
            sid,
            cheap,
            fast,
        )
        await s.connection.execute("UPDATE subscriber SET plan = $2 WHERE id = $1", sid, fast)
    assert (await run(tc, dt.date(2026, 4, 20)))["invoiced"] == 0  # nothing until May
    await run(tc, dt.date(2026, 5, 1))
    await run(tc, dt.date(2026, 5, 2))  # a repeated run corrects nothing twice
    may = max(await invoices_of(tc, sid), key=lambda i: i["period_start"])
    assert may["period_start"] == "2026-05-01"
    assert may["subtotal"] == "75.00"  # 60.00 for May + (15/30 × 30.00 more for April)
    lines = (await tc.get(f"/api/v1/invoices/{may['id']}")).json()["lines"]
    assert [line["kind"] for line in lines] == ["plan", "adjustment"]
    assert lines[1]["amount"] == "15.00"


async def test_cancellation_credits_the_unused_days(make_tenant: Any) -> None:
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "30.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 4, 1))
    await run(tc, dt.date(2026, 4, 1))
    await tc.post(
        "/api/v1/payments",
        json={
            "subscriber_id": str(sid),
            "amount": "30.00",
            "method": "cash",
            "paid_on": "2026-04-02",
        },
    )
    async with tenant_scope(tenant) as s:  # cancelled at the start of April 21 (local)
        await s.connection.execute(
            "UPDATE subscriber SET status = 'cancelled', cancelled_at = $2 WHERE id = $1",
            sid,
            dt.datetime(2026, 4, 21, 0, 30, tzinfo=dt.UTC),
        )
    await run(tc, dt.date(2026, 4, 22))
    await run(tc, dt.date(2026, 4, 23))
    notes = [i for i in await invoices_of(tc, sid) if i["kind"] == "credit_note"]
    assert len(notes) == 1
    assert notes[0]["total"] == "10.00"  # April 21-30 unused: 10 of 30 days at 30.00
    report = (await tc.get("/api/v1/reports/billing/subscribers")).json()
    row = next(r for r in report if r["subscriber_id"] == str(sid))
    assert row["balance"] == "-10.00"  # money the WISP owes back
    assert (await run(tc, dt.date(2026, 6, 1)))["invoiced"] == 0  # no more invoices


async def _subscriber_session(app: Any, tc: Any, tenant: Any, sid: uuid.UUID) -> Any:
    from app.identity.passwords import hash_password
    from tests.conftest import PASSWORD, tenant_client

    rows = await fetch(tenant, "SELECT email FROM subscriber WHERE id = $1", sid)
    from tenants.scope import tenant_scope

    async with tenant_scope(tenant) as s:
        await s.connection.execute(
            "INSERT INTO subscriber_account (id, subscriber, password_hash, activated_at,"
            " created_at) VALUES ($1, $2, $3, now(), now())",
            uuid.uuid4(),
            sid,
            hash_password(PASSWORD),
        )
    client = await tenant_client(app, tc.slug, rows[0]["email"], login=False)
    r = await client.post(
        "/api/v1/portal/auth/login", json={"email": rows[0]["email"], "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return client


async def test_subscribers_see_their_own_invoices_and_balance(make_tenant: Any, app: Any) -> None:
    from tests.conftest import require_weasyprint

    require_weasyprint()
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "25.00")
    mine = await add_subscriber(tenant, plan, dt.date(2026, 1, 1))
    other = await add_subscriber(tenant, plan, dt.date(2026, 1, 1))
    await run(tc, dt.date(2026, 2, 1))
    await tc.post(
        "/api/v1/payments",
        json={
            "subscriber_id": str(mine),
            "amount": "30.00",
            "method": "cash",
            "paid_on": "2026-02-02",
        },
    )
    portal = await _subscriber_session(app, tc, tenant, mine)
    r = await portal.get("/api/v1/portal/billing")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["balance"] == "20.00"  # 2 × 25.00 − 30.00
    assert {i["subscriber_id"] for i in body["invoices"]} == {str(mine)}
    own = body["invoices"][0]["id"]
    pdf = await portal.get(f"/api/v1/portal/billing/invoices/{own}/pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    theirs = (await invoices_of(tc, other))[0]["id"]
    assert (await portal.get(f"/api/v1/portal/billing/invoices/{theirs}/pdf")).status_code == 404
    assert (await portal.get("/api/v1/invoices")).status_code == 403  # never a staff route
    assert (await tc.get("/api/v1/portal/billing")).status_code == 403  # staff are not subscribers
    await portal.client.aclose()


async def test_invoices_missed_by_the_announcement_are_swept_and_mailed_once(
    make_tenant: Any, inbox: Any, worker: Any
) -> None:
    from app.billing.tasks import sweep_unsent_invoices
    from tests.conftest import eventually, require_weasyprint

    require_weasyprint()

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    plan = await add_plan(tenant, "15.00")
    sid = await add_subscriber(tenant, plan, dt.date(2026, 1, 1))
    email = (await fetch(tenant, "SELECT email FROM subscriber WHERE id = $1", sid))[0]["email"]
    # An invoice whose after-commit announcement was lost (Redis down at that moment).
    async with __import__("tenants.scope", fromlist=["x"]).tenant_scope(tenant) as s:
        await s.connection.execute(
            "INSERT INTO invoice (id, kind, subscriber_id, period_start, period_end, series,"
            " year, number, number_text, issue_date, due_date, currency, total, subtotal,"
            " status, bill_to, created_at) VALUES ($1, 'invoice', $2, '2026-01-01',"
            " '2026-02-01', 'INV', 2026, 1, 'INV-2026-000001', '2026-01-01', '2026-01-16',"
            " $3, 15, 15, 'open', 'Ana', now() - interval '1 hour')",
            uuid.uuid4(),
            sid,
            tenant.currency,
        )
    sweep_unsent_invoices.send(str(tenant.id))
    mail = await inbox.wait_for(email, subject="INV-2026-000001")
    assert mail.get_content_type() == "multipart/mixed"

    async def audited() -> bool:
        rows = await fetch(
            tenant, "SELECT count(*) AS n FROM audit_event WHERE action = 'invoice.emailed'"
        )
        return rows[0]["n"] == 1

    await eventually(audited)
    sweep_unsent_invoices.send(str(tenant.id))  # nothing left to send
    await asyncio.sleep(2)
    assert len(inbox.to(email)) == 1
