"""Subscribers: creation with its work order, validation, search, status, roles, tenants."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.support.provisioning import (
    active_subscriber,
    assert_unreachable,
    audit_actions,
    close,
    intruder,
    make_plan,
    make_subscriber,
    new_mac,
    ok,
    staff,
    team,
    tenant_ref,
)


async def test_sales_adds_a_subscriber_and_its_installation_work_order(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    sales, sales_id = await staff(tc, "sales")
    sub = await make_subscriber(sales, plan["id"], language="es", latitude=19.43, longitude=-99.13)
    assert sub["status"] == "pending_installation"
    assert sub["plan_id"] == plan["id"]
    assert (sub["latitude"], sub["longitude"]) == (19.43, -99.13)
    wo = ok(await tc.get(f"/api/v1/work-orders/{sub['installation_work_order_id']}"))
    assert (wo["kind"], wo["status"], wo["subscriber_id"]) == ("installation", "open", sub["id"])
    history = ok(await tc.get(f"/api/v1/subscribers/{sub['id']}/history"))["items"]
    assert [(h["from_status"], h["to_status"], h["actor_id"]) for h in history] == [
        (None, "pending_installation", sales_id)
    ]
    actions = await audit_actions(tc)
    assert "subscriber.create" in actions
    assert "work_order.create" in actions
    await sales.client.aclose()


async def test_bad_input_names_the_field_and_creates_nothing(two_tenants: Any) -> None:
    tc, other = two_tenants
    plan = await make_plan(tc)
    foreign_plan = await make_plan(other)
    base = {"name": "Ana", "email": "ana@example.com", "plan_id": plan["id"]}
    cases = [
        ({"name": " "}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"plan_id": "nope"}, "plan_id"),
        ({"plan_id": foreign_plan["id"]}, "plan_id"),
        ({"site_id": "00000000-0000-0000-0000-000000000000"}, "site_id"),
        ({"language": "fr"}, "language"),
        ({"latitude": 10.0}, "longitude"),
        ({"latitude": 91.0, "longitude": 0.0}, "latitude"),
        ({"phone": "1" * 41}, "phone"),
        ({"notes": "x" * 5001}, "notes"),
    ]
    for change, field in cases:
        r = await tc.post("/api/v1/subscribers", json={**base, **change})
        assert r.status_code == 422, (change, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (change, r.json())
    r = await tc.post("/api/v1/subscribers", json={**base, "surprise": 1})
    assert r.status_code == 422
    assert ok(await tc.get("/api/v1/subscribers"))["items"] == []
    assert ok(await tc.get("/api/v1/work-orders"))["items"] == []
    await make_subscriber(tc, plan["id"], email="taken@example.com")
    r = await tc.post("/api/v1/subscribers", json={**base, "email": "Taken@Example.com"})
    assert r.status_code == 409
    assert len(ok(await tc.get("/api/v1/subscribers"))["items"]) == 1


async def test_roles_on_subscribers(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    sub = await make_subscriber(tc, plan["id"])
    clients = await team(tc)
    body = {"name": "N", "email": "n@example.com", "plan_id": plan["id"]}
    for role, client in clients.items():
        assert (await client.get("/api/v1/subscribers")).status_code == 200, role
        assert (await client.get(f"/api/v1/subscribers/{sub['id']}")).status_code == 200
        assert (await client.get(f"/api/v1/subscribers/{sub['id']}/history")).status_code == 200
        writes = role in ("manager", "sales")
        r = await client.post("/api/v1/subscribers", json={**body, "email": f"{role}@example.com"})
        assert r.status_code == (201 if writes else 403), (role, r.text)
        r = await client.patch(f"/api/v1/subscribers/{sub['id']}", json={"phone": "1"})
        assert r.status_code == (200 if writes else 403), role
        suspends = role in ("manager", "finance")
        r = await client.post(f"/api/v1/subscribers/{sub['id']}/suspend", json={"reason": "admin"})
        # Allowed roles get 409 (the subscriber is not active yet), the others 403.
        assert r.status_code == (409 if suspends else 403), (role, r.text)
        r = await client.post(f"/api/v1/subscribers/{sub['id']}/resume")
        assert r.status_code == (409 if suspends else 403), role
    for role in ("customer_service", "finance", "technical"):
        r = await clients[role].post(f"/api/v1/subscribers/{sub['id']}/cancel")
        assert r.status_code == 403
    await close(clients)


async def test_search_filters_and_stable_pages(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    other_plan = await make_plan(tc)
    site = ok(await tc.post("/api/v1/sites", json={"name": "Cerro Alto"}), 201)
    names = ["Zoe Ruiz", "ana lópez", "Bruno Díaz", "Carla Gómez", "ana maría"]
    subs = {}
    for i, name in enumerate(names):
        subs[name] = await make_subscriber(
            tc,
            plan["id"] if i % 2 == 0 else other_plan["id"],
            name=name,
            phone=f"+52 55 0000 000{i}",
            site_id=site["id"] if i < 2 else None,
        )
    mac = "aa:bb:cc:00:11:22"
    wo = subs["Bruno Díaz"]["installation_work_order_id"]
    ok(await tc.post(f"/api/v1/work-orders/{wo}/schedule", json={"install_date": "2030-01-01"}))
    ok(await tc.post(f"/api/v1/work-orders/{wo}/start"))
    ok(await tc.post(f"/api/v1/work-orders/{wo}/authenticate-cpe", json={"cpe_mac": mac}))

    async def names_for(query: str) -> list[str]:
        items = ok(await tc.get(f"/api/v1/subscribers?{query}"))["items"]
        return [s["name"] for s in items]

    assert await names_for("q=ANA") == ["ana lópez", "ana maría"]
    assert await names_for("q=0003") == ["Carla Gómez"]
    assert await names_for(f"q={subs['Zoe Ruiz']['email']}") == ["Zoe Ruiz"]
    assert await names_for("q=AA-BB-CC") == ["Bruno Díaz"]
    assert await names_for("q=aabbcc0011") == ["Bruno Díaz"]
    assert await names_for("q=100%25") == []  # a literal %, not a wildcard
    assert await names_for(f"plan_id={other_plan['id']}") == ["ana lópez", "Carla Gómez"]
    assert await names_for(f"site_id={site['id']}") == ["ana lópez", "Zoe Ruiz"]
    assert await names_for("status=pending_installation&q=ana") == ["ana lópez", "ana maría"]
    assert await names_for("status=active") == []
    r = await tc.get("/api/v1/subscribers?status=happy")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "status"
    assert (await tc.get("/api/v1/subscribers?cursor=%%%")).status_code == 422
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/v1/subscribers?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = ok(await tc.get(url))
        seen += [s["name"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(names, key=str.lower)


async def test_patch_changes_details_only(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    a = await make_subscriber(tc, plan["id"])
    b = await make_subscriber(tc, plan["id"])
    changed = ok(
        await tc.patch(
            f"/api/v1/subscribers/{a['id']}",
            json={"name": "Ana Nueva", "phone": "+1 555", "external_id": "X-1"},
        )
    )
    assert (changed["name"], changed["phone"], changed["external_id"]) == (
        "Ana Nueva",
        "+1 555",
        "X-1",
    )
    r = await tc.patch(f"/api/v1/subscribers/{b['id']}", json={"email": a["email"]})
    assert r.status_code == 409
    r = await tc.patch(f"/api/v1/subscribers/{b['id']}", json={"status": "active"})
    assert r.status_code == 422  # status changes through its own routes
    r = await tc.patch(f"/api/v1/subscribers/{b['id']}", json={"cpe_mac": new_mac()})
    assert r.status_code == 422
    assert ok(await tc.get(f"/api/v1/subscribers/{b['id']}"))["email"] == b["email"]


async def test_suspend_and_resume_are_recorded_everywhere(make_tenant: Any) -> None:
    from app import netstate
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    finance, finance_id = await staff(tc, "finance")
    sub = await active_subscriber(tc)
    path = f"/api/v1/subscribers/{sub['id']}"
    r = await finance.post(f"{path}/suspend", json={"reason": "holiday"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reason"
    suspended = ok(
        await finance.post(f"{path}/suspend", json={"reason": "non_payment", "note": "late"})
    )
    assert (suspended["status"], suspended["suspension_reason"]) == ("suspended", "non_payment")
    assert (await finance.post(f"{path}/suspend", json={"reason": "admin"})).status_code == 409
    async with tenant_scope(await tenant_ref(tc)):
        state = await netstate.current_state()
    [entry] = [e for e in state.entries if str(e.subscriber_id) == sub["id"]]
    assert (entry.enabled, entry.reason, entry.mac) == (False, "non_payment", sub["cpe_mac"])
    resumed = ok(await finance.post(f"{path}/resume", json={"note": "paid"}))
    assert (resumed["status"], resumed["suspension_reason"]) == ("active", None)
    assert (await finance.post(f"{path}/resume")).status_code == 409
    history = ok(await tc.get(f"{path}/history"))["items"]
    assert [(h["from_status"], h["to_status"], h["reason"]) for h in history][-2:] == [
        ("active", "suspended", "non_payment"),
        ("suspended", "active", None),
    ]
    assert history[-1]["actor_id"] == finance_id
    assert history[-2]["note"] == "late"
    actions = await audit_actions(tc, sub["id"])
    assert actions[-2:] == ["subscriber.suspend", "subscriber.resume"]
    async with tenant_scope(await tenant_ref(tc)):
        state = await netstate.current_state()
    [entry] = [e for e in state.entries if str(e.subscriber_id) == sub["id"]]
    assert (entry.enabled, entry.reason) == (True, None)
    await finance.client.aclose()


async def test_status_replay_with_idempotency_key_changes_nothing(make_tenant: Any) -> None:
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    path = f"/api/v1/subscribers/{sub['id']}/suspend"
    headers = {"Idempotency-Key": "suspend-once"}
    first = ok(await tc.post(path, json={"reason": "admin"}, headers=headers))
    again = ok(await tc.post(path, json={"reason": "admin"}, headers=headers))
    assert first == again
    history = ok(await tc.get(f"/api/v1/subscribers/{sub['id']}/history"))["items"]
    assert [h["to_status"] for h in history].count("suspended") == 1
    r = await tc.post(path, json={"reason": "non_payment"}, headers=headers)
    assert r.status_code == 422  # the same key for a different request


async def test_suspend_and_resume_for_other_code_join_an_open_scope(make_tenant: Any) -> None:
    """Billing calls these from its jobs: they join the job's scope and can be lenient."""
    from app.core.audit import SYSTEM
    from app.subscribers import status as st
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    sub = await active_subscriber(tc)
    tenant = await tenant_ref(tc)
    async with tenant_scope(tenant):
        row = await st.suspend(tenant, sub["id"], "non_payment", SYSTEM)
        assert row["status"] == "suspended"
        again = await st.suspend(tenant, sub["id"], "non_payment", SYSTEM, strict=False)
        assert again["status"] == "suspended"
    await st.suspend(tenant, sub["id"], "admin", SYSTEM, strict=False)  # own scope, no change
    # A payment only lifts a non-payment suspension.
    ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/resume"))
    ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/suspend", json={"reason": "admin"}))
    row = await st.resume(tenant, sub["id"], SYSTEM, only_reason="non_payment")
    assert (row["status"], row["suspension_reason"]) == ("suspended", "admin")
    history = ok(await tc.get(f"/api/v1/subscribers/{sub['id']}/history"))["items"]
    assert [h["to_status"] for h in history] == [
        "pending_installation",
        "active",
        "suspended",
        "active",
        "suspended",
    ]


async def test_cancel_frees_the_mac_and_cancels_open_work(make_tenant: Any) -> None:
    from app import netstate
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    plan = await make_plan(tc)
    mac = new_mac()
    first = await active_subscriber(tc, plan["id"], mac)
    pending = await make_subscriber(tc, plan["id"])
    cancelled = ok(await tc.post(f"/api/v1/subscribers/{pending['id']}/cancel", json={}))
    assert cancelled["status"] == "cancelled"
    wo = ok(await tc.get(f"/api/v1/work-orders/{pending['installation_work_order_id']}"))
    assert wo["status"] == "cancelled"
    assert (await tc.post(f"/api/v1/subscribers/{pending['id']}/cancel")).status_code == 409
    ok(await tc.post(f"/api/v1/subscribers/{first['id']}/cancel", json={"note": "moved away"}))
    async with tenant_scope(await tenant_ref(tc)):
        state = await netstate.current_state()
    entries = {str(e.subscriber_id): e for e in state.entries}
    assert entries[first["id"]].enabled is False
    assert pending["id"] not in entries  # never known to the network
    second = await active_subscriber(tc, plan["id"], mac)
    assert second["cpe_mac"] == mac


async def test_other_tenant_cannot_reach_subscribers(two_tenants: Any) -> None:
    a, b = two_tenants
    plan_b = await make_plan(b)
    sub = await active_subscriber(a)
    sid = sub["id"]
    await assert_unreachable(
        a,
        b,
        [
            ("GET", f"/api/v1/subscribers/{sid}", None),
            ("PATCH", f"/api/v1/subscribers/{sid}", {"name": "Stolen"}),
            ("GET", f"/api/v1/subscribers/{sid}/history", None),
            ("POST", f"/api/v1/subscribers/{sid}/suspend", {"reason": "admin"}),
            ("POST", f"/api/v1/subscribers/{sid}/resume", {}),
            ("POST", f"/api/v1/subscribers/{sid}/cancel", {}),
            ("GET", f"/api/v1/subscribers/{sid}/plan-changes", None),
            ("POST", f"/api/v1/subscribers/{sid}/plan-changes", {"plan_id": plan_b["id"]}),
            ("POST", f"/api/v1/subscribers/{sid}/portal-invitation", None),
        ],
    )
    stranger = await intruder(a, b)
    assert (await stranger.get("/api/v1/subscribers")).status_code == 401
    body = {"name": "X", "email": "x@example.com", "plan_id": plan_b["id"]}
    assert (await stranger.post("/api/v1/subscribers", json=body)).status_code == 401
    await stranger.client.aclose()
    assert ok(await b.get("/api/v1/subscribers"))["items"] == []
    assert ok(await a.get(f"/api/v1/subscribers/{sid}")) == sub
    assert ok(await b.get(f"/api/v1/subscribers?q={sub['email']}"))["items"] == []


async def test_plan_changes_today_apply_at_once_and_later_ones_wait_for_the_job(
    make_tenant: Any, worker: Any
) -> None:
    import datetime as dt

    from app.subscribers.plan_changes import apply_due
    from app.subscribers.tasks import apply_due_plan_changes
    from tests.conftest import eventually

    tc = await make_tenant()
    basic = await make_plan(tc, download_kbps=5000)
    plus = await make_plan(tc, download_kbps=10000)
    pro = await make_plan(tc, download_kbps=20000)
    sub = await active_subscriber(tc, basic["id"])
    path = f"/api/v1/subscribers/{sub['id']}/plan-changes"
    r = await tc.post(path, json={"plan_id": basic["id"]})
    assert r.status_code == 422  # already on it
    r = await tc.post(path, json={"plan_id": plus["id"], "effective_date": "2020-02-30"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "effective_date"
    now_change = ok(await tc.post(path, json={"plan_id": plus["id"]}), 201)
    assert now_change["applied_at"] is not None
    assert now_change["from_plan_id"] == basic["id"]
    assert ok(await tc.get(f"/api/v1/subscribers/{sub['id']}"))["plan_id"] == plus["id"]
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    later = ok(
        await tc.post(path, json={"plan_id": pro["id"], "effective_date": tomorrow.isoformat()}),
        201,
    )
    assert later["applied_at"] is None
    # A newer pending change replaces the older one.
    latest = ok(
        await tc.post(path, json={"plan_id": basic["id"], "effective_date": tomorrow.isoformat()}),
        201,
    )
    changes = ok(await tc.get(path))["items"]
    assert [(c["id"], c["cancelled_at"] is not None) for c in changes] == [
        (now_change["id"], False),
        (later["id"], True),
        (latest["id"], False),
    ]
    assert ok(await tc.get(f"/api/v1/subscribers/{sub['id']}"))["plan_id"] == plus["id"]
    tenant = await tenant_ref(tc)
    apply_due_plan_changes.send(str(tenant.id))  # today: nothing is due yet
    from tenants.scope import tenant_scope

    async with tenant_scope(tenant):
        assert await apply_due(tenant, tomorrow - dt.timedelta(days=1)) == 0
        assert await apply_due(tenant, tomorrow) == 1
        assert await apply_due(tenant, tomorrow) == 0  # safe to run twice
    assert ok(await tc.get(f"/api/v1/subscribers/{sub['id']}"))["plan_id"] == basic["id"]
    applied = ok(await tc.get(path))["items"][-1]
    assert applied["applied_at"] is not None
    assert "subscriber.plan_changed" in await audit_actions(tc, sub["id"])
    # The job itself, through the worker: a change due today applies.
    async with tenant_scope(tenant):
        from app.subscribers.tables import PlanChange

        await PlanChange.update({PlanChange.effective_date: dt.date(2020, 1, 1)}).where(
            PlanChange.id == applied["id"]
        )
    ok(
        await tc.post(path, json={"plan_id": pro["id"], "effective_date": tomorrow.isoformat()}),
        201,
    )
    async with tenant_scope(tenant):
        await PlanChange.update({PlanChange.effective_date: dt.date(2020, 1, 2)}).where(
            PlanChange.to_plan == pro["id"], PlanChange.applied_at.is_null()
        )
    apply_due_plan_changes.send(str(tenant.id))

    async def switched() -> bool:
        return ok(await tc.get(f"/api/v1/subscribers/{sub['id']}"))["plan_id"] == pro["id"]

    await eventually(switched)
    cancelled = await make_subscriber(tc, basic["id"])
    ok(await tc.post(f"/api/v1/subscribers/{cancelled['id']}/cancel"))
    r = await tc.post(
        f"/api/v1/subscribers/{cancelled['id']}/plan-changes", json={"plan_id": pro["id"]}
    )
    assert r.status_code == 409


async def test_plan_change_roles(make_tenant: Any) -> None:
    tc = await make_tenant()
    basic, plus = await make_plan(tc), await make_plan(tc)
    sub = await make_subscriber(tc, basic["id"])
    clients = await team(tc)
    path = f"/api/v1/subscribers/{sub['id']}/plan-changes"
    body = {"plan_id": plus["id"], "effective_date": "2099-01-01"}
    for role, client in clients.items():
        assert (await client.get(path)).status_code == 200, role
        r = await client.post(path, json=body)
        # Allowed roles reach the validation (a date more than a year ahead), others stop at 403.
        assert r.status_code == (422 if role in ("manager", "sales") else 403), role
    assert ok(await tc.get(path))["items"] == []
    await close(clients)


async def test_periodic_plan_change_job_is_scheduled() -> None:
    from app.core.discovery import load_tasks
    from tenants.jobs import PERIODIC

    load_tasks()
    job = PERIODIC["apply-plan-changes"]
    assert job.actor_name == "subscribers.apply_due_plan_changes"
    assert job.every == dt.timedelta(hours=1)
