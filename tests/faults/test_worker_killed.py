"""kill -9 of the Dramatiq worker mid-job: the queue hands the job to another worker once the
dead one's heartbeat is stale, and the job, run again, finishes the work exactly once."""

from __future__ import annotations

from typing import Any

from app.billing.periods import local_today
from tests.billing_support import add_plan, add_subscriber, tenant_of
from tests.concurrency.support import Holder, blocked_by, rows, value
from tests.conftest import Inbox
from tests.faults.stack import Stack, kill
from tests.faults.support import mails_to, until

RUN_JOB = "billing.daily_billing"


async def test_worker_killed_mid_billing_run_then_mid_mail_batch(
    stack: Stack, inbox: Inbox
) -> None:
    """The scheduler's daily run is killed while its transaction has numbered the invoices
    and waits to write them (held there by a table lock the test takes); the next worker
    finishes the run: every subscriber invoiced once, numbers 1..n. Then the worker mailing
    those invoices is killed mid-batch; the next one mails the rest, each at least once."""
    tc = await stack.tenant()
    tenant = await tenant_of(tc)
    r = await tc.patch("/api/v1/billing/settings", json={"run_hour": 0})
    assert r.status_code == 200, r.text
    plan = await add_plan(tenant, "15.00")
    today = local_today(tenant.timezone)
    subs = [await add_subscriber(tenant, plan, today) for _ in range(16)]
    addresses = {f"{sid.hex[:10]}@example.com" for sid in subs}

    async with Holder(tenant) as holder:
        await holder.lock("LOCK TABLE invoice IN SHARE MODE")
        first = await stack.start_worker()
        stack.enqueue(RUN_JOB, str(tenant.id))
        await blocked_by(holder.pid, timeout=60)  # mid-run: counter locked, rows not written
        kill(first)
    # The killed worker's transaction never commits; its job comes back to the next worker.
    second = await stack.start_worker()

    async def finished() -> Any:
        run = await rows(tenant, "SELECT status FROM billing_run")
        return run and run[0]["status"] == "done"

    await until(finished, 60, "the billing run was finished by the second worker")
    assert await value(tenant, "SELECT count(*) FROM billing_run") == 1
    invoices = await rows(
        tenant, "SELECT subscriber_id, number, number_text FROM invoice ORDER BY number"
    )
    assert [i["number"] for i in invoices] == list(range(1, 17))  # none doubled, no gap
    assert {i["subscriber_id"] for i in invoices} == set(subs)
    numbers = {i["number_text"] for i in invoices}

    # Now the mail batch: once a few invoices went out, kill the worker while it holds the
    # send lock of the next one (rendering or handing it to the SMTP server).
    await until(lambda: _sent(inbox, addresses, 3), 90, "the second worker mailed three invoices")
    locks = f"wisp:{tenant.id}:billing:invoice-emailed:*:lock"
    redis = stack.redis.client()

    async def sending() -> bool:
        return bool(redis.keys(locks))

    await until(sending, 30, "the second worker was sending a mail")
    kill(second)
    assert redis.keys(locks)  # left behind by the dead worker
    await stack.start_worker()

    async def all_sent() -> bool:
        return {_number(m) for m in mails_to(inbox, addresses, "Invoice")} >= numbers

    await until(all_sent, 90, "every invoice was mailed after the kill")
    mailed = [_number(m) for m in mails_to(inbox, addresses, "Invoice")]
    # At least once each; a mail accepted by the SMTP server in the instant before the kill,
    # not yet recorded, goes again (one per worker thread at most).
    assert len(mailed) <= len(numbers) + 2, sorted(mailed)


async def _sent(inbox: Inbox, addresses: set[str], count: int) -> bool:
    return len(mails_to(inbox, addresses, "Invoice")) >= count


def _number(message: Any) -> str:
    return str(message["Subject"]).split()[1]
