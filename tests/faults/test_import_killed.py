"""An import killed midway, and the worker mailing its portal invitations killed mid-batch."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from app.identity.tokens import token_hash
from tests.billing_support import tenant_of
from tests.concurrency.support import Holder, blocked_by, rows, value
from tests.conftest import Inbox
from tests.faults.stack import Stack, kill
from tests.faults.support import mails_to, until

ROWS = 210  # more than one of the importer's chunks (200)


async def test_import_killed_midway_then_worker_killed_mid_invitations(
    stack: Stack, inbox: Inbox, tmp_path: Path
) -> None:
    """`wisp import subscribers --invite` is killed (-9) while a row deep in the file waits
    for an address another transaction is inserting; run again, the file is imported exactly
    once. Then the worker mailing the portal invitations is killed mid-batch; the next one
    mails the rest, and every subscriber's newest link is the one that works."""
    tc = await stack.tenant()
    tenant = await tenant_of(tc)
    r = await tc.post(
        "/api/v1/rate-plans",
        json={"name": "Basic", "download_kbps": 5000, "upload_kbps": 500, "monthly_price": "9"},
    )
    assert r.status_code == 201, r.text
    plan_id = uuid.UUID(r.json()["id"])
    tag = uuid.uuid4().hex[:6]
    emails = [f"imp-{tag}-{i}@example.com" for i in range(ROWS)]
    csv = tmp_path / "subscribers.csv"
    csv.write_text(
        "name,email,plan\n" + "".join(f"Sub {i},{e},Basic\n" for i, e in enumerate(emails))
    )
    command = ["-m", "app.cli", "import", "subscribers", str(csv), "--tenant", tc.slug]

    async with Holder(tenant) as holder:
        # Another transaction inserting row 205's address: the import waits for it there.
        await holder.lock(
            "INSERT INTO subscriber (id, name, email, plan, status, created_at, updated_at)"
            " VALUES ($1, 'Elsewhere', $2, $3, 'pending_installation', now(), now())",
            uuid.uuid4(),
            emails[205],
            plan_id,
        )
        importer = stack.spawn([*command, "--invite"], "import-1.log")
        await blocked_by(holder.pid, timeout=60)
        kill(importer)
    half_done = await value(tenant, "SELECT count(*) FROM subscriber")
    assert half_done < ROWS  # what the killed run's open transaction held never committed

    again = stack.spawn([*command, "--invite"], "import-2.log")
    assert await until(lambda: _exited(again), 120, "the second import finished") == [0]
    imported = await rows(
        tenant,
        "SELECT s.email, count(w.id) AS orders FROM subscriber s"
        " LEFT JOIN work_order w ON w.subscriber = s.id GROUP BY s.email",
    )
    assert sorted(r["email"] for r in imported) == sorted(emails)  # each row exactly once
    assert {r["orders"] for r in imported} == {1}  # one installation each

    first = await stack.start_worker()
    await until(lambda: _invited(inbox, emails, 10), 90, "ten invitations were mailed")
    kill(first)
    await stack.start_worker()
    await until(lambda: _invited(inbox, emails, ROWS), 120, "every subscriber was invited")
    stored = {
        r["email"]: r["invitation_hash"]
        for r in await rows(
            tenant,
            "SELECT s.email, a.invitation_hash FROM subscriber_account a"
            " JOIN subscriber s ON s.id = a.subscriber",
        )
    }
    for address in emails:
        newest = mails_to(inbox, {address}, "account is ready")[-1]
        link = re.search(r"/portal/invite/(\S+)", newest.get_content())
        assert link and token_hash(link.group(1)) == stored[address], address


async def _exited(proc: Any) -> list[int] | None:
    code = proc.poll()
    return None if code is None else [code]


async def _invited(inbox: Inbox, emails: list[str], count: int) -> bool:
    invited = {str(m["To"]).lower() for m in mails_to(inbox, set(emails), "account is ready")}
    return len(invited) >= count
