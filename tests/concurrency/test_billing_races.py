"""Money under contention: many payments against one invoice, payments and staff actions during
a billing run, plan changes during a billing run. No 5xx, no deadlock, one outcome.

Few subscribers each: every invoice is mailed with its PDF by this test process's worker, and
a backlog there would delay the mail other tests wait for."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from tests.billing_support import add_plan, add_subscriber, status_of, tenant_of
from tests.concurrency.support import (
    Holder,
    assert_desired_state_matches,
    at_once,
    blocked_by,
    rows,
    statuses,
    value,
    waits_or_done,
)


async def run(tc: Any, as_of: dt.date) -> dict[str, Any]:
    r = await tc.post("/api/v1/billing/runs", json={"as_of": as_of.isoformat()})
    assert r.status_code == 201, r.text
    return dict(r.json())


def pay(tc: Any, sid: uuid.UUID, amount: str, reference: str = "", method: str = "cash") -> Any:
    body = {"subscriber_id": str(sid), "amount": amount, "method": method, "reference": reference}
    return tc.post("/api/v1/payments", json=body)


async def assert_gapless(tenant: Any) -> None:
    numbers = [
        r["number"]
        for r in await rows(
            tenant, "SELECT number FROM invoice WHERE kind = 'invoice' ORDER BY number"
        )
    ]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_many_payments_against_one_invoice_allocate_exactly(make_tenant: Any) -> None:
    """Twelve payments (four of them one bank transfer sent four times) race to pay one
    invoice of a subscriber suspended for non-payment: the invoice is paid exactly, the rest
    is credit, the transfer is posted once, and the subscriber is resumed once."""
    tc, other = await make_tenant(), await make_tenant()
    tenant, tenant_b = await tenant_of(tc), await tenant_of(other)
    sid = await add_subscriber(tenant, await add_plan(tenant, "15.00"), dt.date(2026, 11, 1))
    sid_b = await add_subscriber(tenant_b, await add_plan(tenant_b, "15.00"), dt.date(2026, 11, 1))
    await run(tc, dt.date(2026, 11, 1))
    await run(other, dt.date(2026, 11, 1))
    assert (await run(tc, dt.date(2026, 11, 30)))["suspended"] == 1
    versions_before = await value(tenant, "SELECT max(version) FROM netstate_change")

    calls = [pay(tc, sid, "2.00") for _ in range(8)]
    calls += [pay(tc, sid, "7.50", "TR-1", "bank_transfer") for _ in range(4)]
    calls += [pay(other, sid_b, "1.00") for _ in range(3)]  # another tenant, same moment
    responses = await at_once(calls)
    codes = statuses(responses)
    assert codes[:8] == [201] * 8
    assert sorted(codes[8:12]) == [200, 200, 200, 201]  # the same transfer posted once
    assert len({r.json()["id"] for r in responses[8:12]}) == 1
    assert codes[12:] == [201] * 3

    invoice = (await rows(tenant, "SELECT total, amount_paid, status FROM invoice"))[0]
    assert (invoice["total"], invoice["amount_paid"], invoice["status"]) == (
        Decimal("15"),
        Decimal("15"),
        "paid",
    )
    payments = await rows(
        tenant,
        "SELECT p.amount, p.unallocated, coalesce(sum(a.amount), 0) AS allocated"
        " FROM payment p LEFT JOIN payment_allocation a ON a.payment = p.id"
        " GROUP BY p.id, p.amount, p.unallocated",
    )
    assert len(payments) == 9
    assert all(p["amount"] == p["allocated"] + p["unallocated"] for p in payments)
    assert sum(p["allocated"] for p in payments) == Decimal("15")
    assert sum(p["unallocated"] for p in payments) == Decimal("16") + Decimal("7.5") - 15
    assert await status_of(tenant, sid) == ("active", None)
    resumed = await value(
        tenant,
        "SELECT count(*) FROM audit_event WHERE action = 'subscriber.resume' AND object_id = $1",
        str(sid),
    )
    assert resumed == 1
    assert (
        await value(
            tenant, "SELECT count(*) FROM netstate_change WHERE version > $1", versions_before
        )
        == 1
    )
    await assert_desired_state_matches(tenant)
    paid_b = await value(tenant_b, "SELECT sum(amount) FROM payment")
    assert paid_b == Decimal("3")


async def test_billing_run_racing_staff_suspensions_and_payments(make_tenant: Any) -> None:
    """The run's suspension pass works through the overdue subscribers while staff suspend
    some of them (in the opposite order) and payments arrive for others. Each subscriber ends
    suspended once, for one reason, or paid and active; nobody deadlocks."""
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    r = await tc.patch("/api/v1/billing/settings", json={"max_suspension_share": "1"})
    assert r.status_code == 200, r.text
    plan = await add_plan(tenant, "15.00")
    subs = sorted([await add_subscriber(tenant, plan, dt.date(2026, 11, 1)) for _ in range(8)])
    await run(tc, dt.date(2026, 11, 1))
    by_staff = subs[::-1][:4]  # the highest ids first: the run reaches them last
    payers = subs[:2]
    calls = [tc.post("/api/v1/billing/runs", json={"as_of": "2026-11-30"})]
    for sid in by_staff:
        calls.append(tc.post(f"/api/v1/subscribers/{sid}/suspend", json={"reason": "admin"}))
    calls += [pay(tc, sid, "15.00") for sid in payers]
    responses = await at_once(calls)
    assert responses[0].status_code == 201, responses[0].text
    staff_codes = statuses(responses[1 : 1 + len(by_staff)])
    assert set(staff_codes) <= {200, 409}
    assert statuses(responses[1 + len(by_staff) :]) == [201] * len(payers)

    for sid, code in zip(by_staff, staff_codes, strict=True):
        # 200: staff came first (the run then skipped them); 409: the run came first.
        expected = ("suspended", "admin") if code == 200 else ("suspended", "non_payment")
        assert await status_of(tenant, sid) == expected
    for sid in payers:
        # Paid before the run looked, or suspended by it and resumed by the payment.
        assert await status_of(tenant, sid) == ("active", None)
    for sid in subs:
        changes = await rows(
            tenant,
            "SELECT to_status FROM subscriber_status_change WHERE subscriber = $1"
            " ORDER BY recorded_at",
            sid,
        )
        assert [c["to_status"] for c in changes].count("suspended") <= 1
    await assert_desired_state_matches(tenant)
    await assert_gapless(tenant)


async def test_plan_changes_during_a_billing_run(make_tenant: Any) -> None:
    """Plan changes land while the run invoices the same subscribers: one invoice per
    subscriber and period, gapless numbers, and the next run's true-up makes every charge
    match the plan each day was on."""
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    cheap, dear = await add_plan(tenant, "10.00"), await add_plan(tenant, "30.00", name="Tier 3")
    subs = [await add_subscriber(tenant, cheap, dt.date(2026, 11, 3)) for _ in range(8)]
    await run(tc, dt.date(2026, 11, 3))
    calls = [tc.post("/api/v1/billing/runs", json={"as_of": "2026-12-03"}) for _ in range(2)]
    for sid in subs[::2]:
        calls.append(
            tc.post(f"/api/v1/subscribers/{sid}/plan-changes", json={"plan_id": str(dear)})
        )
    responses = await at_once(calls)
    assert statuses(responses[:2]) == [201, 201]
    assert sum(r.json()["invoiced"] for r in responses[:2]) == 8
    assert statuses(responses[2:]) == [201] * 4

    per_period = await rows(
        tenant,
        "SELECT subscriber_id, period_start, count(*) AS n FROM invoice WHERE kind = 'invoice'"
        " GROUP BY subscriber_id, period_start",
    )
    assert len(per_period) == 16 and {r["n"] for r in per_period} == {1}
    await assert_gapless(tenant)
    await assert_desired_state_matches(tenant)
    # What was billed on the old plan after the change is corrected on the next invoice.
    await run(tc, dt.date(2027, 1, 3))
    for sid in subs[::2]:
        billed = await value(
            tenant,
            "SELECT sum(total) FROM invoice WHERE subscriber_id = $1 AND kind = 'invoice'",
            sid,
        )
        # 10 for November; December and January at 30 (a change made today applies today).
        assert billed == Decimal("70"), (sid, billed)


async def test_speed_change_racing_plan_changes_off_the_plan(make_tenant: Any) -> None:
    """A plan's speeds change while its subscribers move to another plan: the speed change
    locks the plan, then its subscribers; a plan change locks the subscriber, then its old and
    new plans (foreign-key checks). Neither may wait for the other in a cycle."""
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    old, new = await add_plan(tenant, "10.00"), await add_plan(tenant, "20.00", name="Tier 3")
    subs = [await add_subscriber(tenant, old, dt.date(2026, 11, 1)) for _ in range(10)]
    calls = []
    for i, sid in enumerate(subs):
        if i % 3 == 0:
            speeds = {"download_kbps": 6000 + i, "upload_kbps": 600 + i}
            calls.append(tc.patch(f"/api/v1/rate-plans/{old}", json=speeds))
        calls.append(tc.post(f"/api/v1/subscribers/{sid}/plan-changes", json={"plan_id": str(new)}))
    responses = await at_once(calls)
    assert set(statuses(responses)) == {200, 201}
    assert {r["plan"] for r in await rows(tenant, "SELECT plan FROM subscriber")} == {new}
    await assert_desired_state_matches(tenant)


async def test_suspension_pass_and_staff_suspension_take_locks_in_one_order(
    make_tenant: Any,
) -> None:
    """Pinned interleaving: the run has suspended the first overdue subscriber (so it holds
    the desired-state counter) and waits for the second, while staff suspend the last one
    (holding that row, needing the counter). The run used to lock each subscriber as it went,
    after the counter: a deadlock, one side a 500."""
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    await tc.patch("/api/v1/billing/settings", json={"max_suspension_share": "1"})
    plan = await add_plan(tenant, "15.00")
    s1, s2, s3, s4 = sorted(
        [await add_subscriber(tenant, plan, dt.date(2026, 11, 1)) for _ in "1234"]
    )
    await run(tc, dt.date(2026, 11, 1))
    async with Holder(tenant) as holder:
        await holder.lock("SELECT 1 FROM subscriber WHERE id = $1 FOR UPDATE", s2)
        billing = asyncio.create_task(tc.post("/api/v1/billing/runs", json={"as_of": "2026-11-30"}))
        run_pid = await blocked_by(holder.pid)
        staff = asyncio.create_task(
            tc.post(f"/api/v1/subscribers/{s4}/suspend", json={"reason": "admin"})
        )
        await waits_or_done(staff, run_pid)
        await holder.release()
        responses = await at_once([billing, staff])
    assert statuses(responses) == [201, 200]
    assert responses[0].json()["suspended"] == 3
    assert await status_of(tenant, s4) == ("suspended", "admin")
    for sid in (s1, s2, s3):
        assert await status_of(tenant, sid) == ("suspended", "non_payment")
    await assert_desired_state_matches(tenant)


async def test_speed_change_and_plan_change_take_locks_in_one_order(make_tenant: Any) -> None:
    """Pinned interleaving: a plan change holds its subscriber (and waits, here for a lock the
    test holds) while the old plan's speeds change, which locks the plan and then wants that
    subscriber. The plan change's foreign-key check needs a key-share lock on the old plan: the
    speed change used to hold the plan FOR UPDATE, which conflicts with it: a deadlock."""
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    old, new = await add_plan(tenant, "10.00"), await add_plan(tenant, "20.00", name="Tier 3")
    sid = await add_subscriber(tenant, old, dt.date(2026, 11, 1))
    stays = await add_subscriber(tenant, old, dt.date(2026, 11, 1))
    pending = {"plan_id": str(new), "effective_date": "2027-02-01"}
    r = await tc.post(f"/api/v1/subscribers/{sid}/plan-changes", json=pending)
    assert r.status_code == 201, r.text
    async with Holder(tenant) as holder:
        await holder.lock("SELECT 1 FROM plan_change WHERE subscriber = $1 FOR UPDATE", sid)
        change = asyncio.create_task(
            tc.post(f"/api/v1/subscribers/{sid}/plan-changes", json={"plan_id": str(new)})
        )
        change_pid = await blocked_by(holder.pid)  # holds the subscriber
        speeds = asyncio.create_task(
            tc.patch(f"/api/v1/rate-plans/{old}", json={"download_kbps": 7000})
        )
        await waits_or_done(speeds, change_pid)
        await holder.release()
        responses = await at_once([change, speeds])
    assert statuses(responses) == [201, 200]
    plans = {r["id"]: r["plan"] for r in await rows(tenant, "SELECT id, plan FROM subscriber")}
    assert plans == {sid: new, stays: old}
    await assert_desired_state_matches(tenant)


async def test_a_payment_reversed_twice_at_once_is_reversed_once(make_tenant: Any) -> None:
    """Two clerks reverse the same payment at the same moment: one reversal (200), one 409,
    one audit record, and the invoice owes exactly what it did before the payment."""
    tc = await make_tenant()
    tenant = await tenant_of(tc)
    sid = await add_subscriber(tenant, await add_plan(tenant, "15.00"), dt.date(2026, 11, 1))
    await run(tc, dt.date(2026, 11, 1))
    payment = (await pay(tc, sid, "20.00")).json()
    reverse = f"/api/v1/payments/{payment['id']}/reverse"
    responses = await at_once(tc.post(reverse, json={"reason": "bounced"}) for _ in range(4))
    assert sorted(statuses(responses)) == [200, 409, 409, 409]
    reversals = await value(
        tenant, "SELECT count(*) FROM audit_event WHERE action = 'payment.reversed'"
    )
    assert reversals == 1
    invoice = (await rows(tenant, "SELECT amount_paid, status FROM invoice"))[0]
    assert (invoice["amount_paid"], invoice["status"]) == (Decimal(0), "open")
    assert await value(tenant, "SELECT count(*) FROM payment_allocation") == 0
