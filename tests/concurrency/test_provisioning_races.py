"""Installations under contention: a technician activating while the office suspends or cancels
the same subscriber, and replays of the same step from a phone's outbox. One outcome each."""

from __future__ import annotations

import secrets
from typing import Any

from tests.concurrency.support import assert_desired_state_matches, at_once, rows
from tests.support.provisioning import make_plan, make_subscriber, new_mac, ok, staff, tenant_ref


async def ready_to_activate(manager: Any, tech: Any, plan_id: str) -> tuple[str, str]:
    """A subscriber whose installation has its CPE authenticated: (subscriber, work order)."""
    sub = await make_subscriber(manager, plan_id)
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    ok(await tech.post(f"{wo}/schedule", json={"install_date": "2030-01-15"}))
    ok(await tech.post(f"{wo}/start"))
    ok(await tech.post(f"{wo}/authenticate-cpe", json={"cpe_mac": new_mac()}))
    return sub["id"], sub["installation_work_order_id"]


async def test_suspend_and_cancel_during_activation(make_tenant: Any) -> None:
    """For each subscriber the technician activates (twice: a replayed outbox entry with its
    Idempotency-Key) while the office suspends and another clerk cancels. Whatever the order,
    the subscriber ends in the one state the successful calls describe, its history has one
    row per successful call, and the gateways' desired state says the same."""
    manager = await make_tenant()
    other = await make_tenant()
    tech, _id = await staff(manager, "technical")
    tenant = await tenant_ref(manager)
    plan = await make_plan(manager)
    pairs = [await ready_to_activate(manager, tech, plan["id"]) for _ in range(6)]
    other_plan = await make_plan(other)
    _other_sub, other_wo = await ready_to_activate(other, other, other_plan["id"])

    calls = []
    for i, (sid, wid) in enumerate(pairs):
        key = {"Idempotency-Key": secrets.token_hex(8)}
        activate = f"/api/v1/work-orders/{wid}/activate"
        calls += [tech.post(activate, headers=key), tech.post(activate, headers=key)]
        calls.append(manager.post(f"/api/v1/subscribers/{sid}/suspend", json={"reason": "admin"}))
        if i % 2:
            calls.append(manager.post(f"/api/v1/subscribers/{sid}/cancel", json={}))
    calls.append(other.post(f"/api/v1/work-orders/{other_wo}/activate"))
    responses = await at_once(calls)
    assert responses[-1].status_code == 200  # another tenant's install, the same moment

    position = 0
    for i, (sid, _wid) in enumerate(pairs):
        activated, replayed, suspended = responses[position : position + 3]
        cancelled = responses[position + 3] if i % 2 else None
        position += 4 if i % 2 else 3
        # The activation and its replay answer alike, whatever happened in between.
        assert replayed.status_code == activated.status_code
        assert replayed.json() == activated.json()
        assert activated.status_code in {200, 409}
        assert suspended.status_code in {200, 409}
        history = [
            (r["from_status"], r["to_status"])
            for r in await rows(
                tenant,
                "SELECT from_status, to_status FROM subscriber_status_change"
                " WHERE subscriber = $1 AND from_status IS NOT NULL ORDER BY recorded_at",
                _uuid(sid),
            )
        ]
        done = {
            ("pending_installation", "active"): activated.status_code == 200,
            ("active", "suspended"): suspended.status_code == 200,
        }
        if cancelled is not None:
            assert cancelled.status_code == 200  # any live subscriber can be cancelled
        for step, happened in done.items():
            assert (step in history) == happened, (history, step)
        assert len(history) == sum(done.values()) + (cancelled is not None)
        final = (await rows(tenant, "SELECT status FROM subscriber WHERE id = $1", _uuid(sid)))[0]
        expected = history[-1][1] if history else "pending_installation"
        assert final["status"] == expected
        if activated.status_code == 409:  # only a cancellation can come before activation
            assert history == [("pending_installation", "cancelled")]
        if suspended.status_code == 409:  # before activation, or after the cancellation
            assert ("active", "suspended") not in history
    await assert_desired_state_matches(tenant)


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)
