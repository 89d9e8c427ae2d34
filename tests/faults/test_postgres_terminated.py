"""PostgreSQL backends terminated (pg_terminate_backend) in the middle of a transaction: of a
payment, of a gateway's acknowledgement, of a billing run in a worker. The transaction rolls
back, the client is told 503 (a worker retries the job), the retry does the work once, and
the process's pool carries on with fresh connections."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from app.billing.periods import local_today
from tests.billing_support import add_plan, add_subscriber, tenant_of
from tests.concurrency.support import Holder, blocked_by, rows, value
from tests.faults.stack import Stack
from tests.faults.support import assert_unavailable, terminate, until


async def test_payment_whose_backend_is_terminated_is_posted_once(stack: Stack) -> None:
    tc = await stack.tenant()
    tenant = await tenant_of(tc)
    sid = await add_subscriber(tenant, await add_plan(tenant, "15.00"), dt.date(2026, 11, 1))
    r = await tc.post("/api/v1/billing/runs", json={"as_of": "2026-11-01"})
    assert r.status_code == 201, r.text
    key = {"Idempotency-Key": secrets.token_hex(8)}
    body = {"subscriber_id": str(sid), "amount": "15.00", "method": "cash"}

    async with Holder(tenant) as holder:
        await holder.lock("SELECT 1 FROM invoice FOR UPDATE")
        posting = asyncio.create_task(tc.post("/api/v1/payments", json=body, headers=key))
        # The payment's transaction has claimed its key and inserted the payment, and waits
        # to apply it to the invoice: end its session there.
        await terminate(await blocked_by(holder.pid))
        assert_unavailable(await posting)
    assert await value(tenant, "SELECT count(*) FROM payment") == 0

    retried = await tc.post("/api/v1/payments", json=body, headers=key)
    assert retried.status_code == 201, retried.text
    again = await tc.post("/api/v1/payments", json=body, headers=key)
    assert again.json()["id"] == retried.json()["id"]
    assert await value(tenant, "SELECT count(*) FROM payment") == 1
    invoice = (await rows(tenant, "SELECT amount_paid, status FROM invoice"))[0]
    assert (invoice["amount_paid"], invoice["status"]) == (Decimal("15"), "paid")
    # The web process's pool replaced the dead connection: every request works.
    answers = await asyncio.gather(*(tc.get("/api/v1/payments") for _ in range(12)))
    assert {a.status_code for a in answers} == {200}


async def test_gateway_ack_whose_backend_is_terminated_resumes_from_its_version(
    stack: Stack,
) -> None:
    tc = await stack.tenant()
    tenant = await tenant_of(tc)
    sid = await add_subscriber(tenant, await add_plan(tenant, "15.00"), dt.date(2026, 11, 1))
    assert (
        await tc.post(f"/api/v1/subscribers/{sid}/suspend", json={"reason": "admin"})
    ).status_code == 200
    token = (await tc.post("/api/v1/gateways", json={"name": "GW"})).json()["enrollment_token"]
    async with stack.client() as base:
        secret = (await base.post("/gateway/v1/enroll", json={"token": token})).json()["secret"]
    gateway = stack.client(tc.host)
    gateway.headers["Authorization"] = f"Bearer {secret}"
    try:
        state = (await gateway.get("/gateway/v1/state")).json()
        async with Holder(tenant) as holder:
            await holder.lock("SELECT 1 FROM gateway FOR UPDATE")
            acking = asyncio.create_task(
                gateway.post("/gateway/v1/ack", json={"version": state["version"]})
            )
            await terminate(await blocked_by(holder.pid))
            assert_unavailable(await acking)
        assert await value(tenant, "SELECT applied_version FROM gateway") == 0
        # The agent sends the same ack again, then asks for what follows its version.
        ack = await gateway.post("/gateway/v1/ack", json={"version": state["version"]})
        assert ack.json() == {
            "applied_version": state["version"],
            "desired_version": state["version"],
        }
        nothing = (await gateway.get(f"/gateway/v1/state?since={state['version']}")).json()
        assert (nothing["version"], nothing["subscribers"]) == (state["version"], [])
        enforcement = (await tc.get(f"/api/v1/subscribers/{sid}/enforcement")).json()
        assert enforcement["enforced"] is True
    finally:
        await gateway.aclose()


async def test_billing_job_whose_backend_is_terminated_is_retried_to_the_end(
    stack: Stack,
) -> None:
    tc = await stack.tenant()
    tenant = await tenant_of(tc)
    r = await tc.patch("/api/v1/billing/settings", json={"run_hour": 0})
    assert r.status_code == 200, r.text
    plan = await add_plan(tenant, "15.00")
    subs = [await add_subscriber(tenant, plan, local_today(tenant.timezone)) for _ in range(6)]
    await stack.start_worker()
    async with Holder(tenant) as holder:
        await holder.lock("LOCK TABLE invoice IN SHARE MODE")
        stack.enqueue("billing.daily_billing", str(tenant.id))
        await terminate(await blocked_by(holder.pid, timeout=60))

    async def finished() -> Any:
        run = await rows(tenant, "SELECT status FROM billing_run")
        return run and run[0]["status"] == "done"

    await until(finished, 60, "the retried billing run finished")
    invoices = await rows(tenant, "SELECT subscriber_id, number FROM invoice ORDER BY number")
    assert [i["number"] for i in invoices] == list(range(1, 7))
    assert {i["subscriber_id"] for i in invoices} == set(subs)
