"""Work orders: the state machine through the API, MAC rules, occurred_at, idempotent replays,
roles, technicians, notes, and other tenants."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.provisioning import (
    assert_unreachable,
    audit_actions,
    close,
    make_plan,
    make_subscriber,
    new_mac,
    ok,
    staff,
    team,
    tenant_ref,
)

VERBS = ("schedule", "start", "authenticate-cpe", "activate", "sign-off", "cancel")


def body_for(verb: str) -> dict[str, Any]:
    return {
        "schedule": {"install_date": "2030-02-01"},
        "authenticate-cpe": {"cpe_mac": new_mac()},
        "sign-off": {"signed_by": "Ana Cliente"},
    }.get(verb, {})


async def work_order_in(tc: Any, plan_id: str, status: str) -> dict[str, Any]:
    """A new subscriber's installation work order, walked to `status`."""
    sub = await make_subscriber(tc, plan_id)
    wo_id = sub["installation_work_order_id"]
    path = f"/api/v1/work-orders/{wo_id}"
    steps = {
        "open": [],
        "scheduled": ["schedule"],
        "in_progress": ["schedule", "start"],
        "cpe_authenticated": ["schedule", "start", "authenticate-cpe"],
        "activated": ["schedule", "start", "authenticate-cpe", "activate"],
        "signed_off": ["schedule", "start", "authenticate-cpe", "activate", "sign-off"],
        "cancelled": ["cancel"],
    }[status]
    for verb in steps:
        ok(await tc.post(f"{path}/{verb}", json=body_for(verb)))
    wo = ok(await tc.get(path))
    assert wo["status"] == status
    return wo


async def test_technician_installs_and_activates(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    sales, _ = await staff(tc, "sales")
    tech, tech_id = await staff(tc, "technical")
    sub = await make_subscriber(sales, plan["id"])
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    scheduled = ok(
        await sales.post(
            f"{wo}/schedule", json={"install_date": "2030-03-04", "technician_id": tech_id}
        )
    )
    assert (scheduled["status"], scheduled["install_date"]) == ("scheduled", "2030-03-04")
    assert scheduled["technician_id"] == tech_id
    mine = ok(await tech.get(f"/api/v1/work-orders?technician_id={tech_id}"))["items"]
    assert [w["id"] for w in mine] == [scheduled["id"]]
    ok(await tech.post(f"{wo}/start"))
    authed = ok(await tech.post(f"{wo}/authenticate-cpe", json={"cpe_mac": "AA-BB-CC-DD-EE-02"}))
    assert (authed["status"], authed["cpe_mac"]) == ("cpe_authenticated", "aa:bb:cc:dd:ee:02")
    activated = ok(await tech.post(f"{wo}/activate", json={}))
    assert activated["status"] == "activated"
    subscriber = ok(await tech.get(f"/api/v1/subscribers/{sub['id']}"))
    assert subscriber["status"] == "active"
    assert subscriber["cpe_mac"] == "aa:bb:cc:dd:ee:02"
    assert subscriber["billing_start_date"] == dt.datetime.now(dt.UTC).date().isoformat()
    signed = ok(
        await tech.post(
            f"{wo}/sign-off",
            json={"signed_by": "Ana Cliente", "signature": "data:image/png;base64,iVBORw0KGgo="},
        )
    )
    assert (signed["status"], signed["signed_by"], signed["has_signature"]) == (
        "signed_off",
        "Ana Cliente",
        True,
    )
    actions = await audit_actions(tc, sub["installation_work_order_id"])
    assert actions == [
        "work_order.create",
        "work_order.scheduled",
        "work_order.in_progress",
        "work_order.cpe_authenticated",
        "work_order.activated",
        "work_order.signed_off",
    ]
    await sales.client.aclose()
    await tech.client.aclose()


ALLOWED = {
    "open": {"schedule", "cancel"},
    "scheduled": {"schedule", "start", "cancel"},
    "in_progress": {"authenticate-cpe", "cancel"},
    "cpe_authenticated": {"authenticate-cpe", "activate", "cancel"},
    "activated": {"sign-off"},
    "signed_off": set(),
    "cancelled": set(),
}


@pytest.mark.parametrize("status", list(ALLOWED))
async def test_every_illegal_transition_is_a_409_and_changes_nothing(
    make_tenant: Any, status: str
) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    wo = await work_order_in(tc, plan["id"], status)
    path = f"/api/v1/work-orders/{wo['id']}"
    for verb in VERBS:
        if verb in ALLOWED[status]:
            continue
        r = await tc.post(f"{path}/{verb}", json=body_for(verb))
        assert r.status_code == 409, (status, verb, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status_now"] == status
        assert ok(await tc.get(path)) == wo
    # And the legal ones really are legal (each on a fresh work order in that status).
    for verb in ALLOWED[status]:
        fresh = await work_order_in(tc, plan["id"], status)
        ok(await tc.post(f"/api/v1/work-orders/{fresh['id']}/{verb}", json=body_for(verb)))


async def test_mac_rules(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    wo = await work_order_in(tc, plan["id"], "in_progress")
    path = f"/api/v1/work-orders/{wo['id']}/authenticate-cpe"
    for bad in (
        "aa:bb:cc:dd:ee",
        "aa:bb:cc:dd:ee:fg",
        "aa:bb-cc:dd:ee:ff",
        "ff:ff:ff:ff:ff:ff",
        "01:00:5e:00:00:fb",
        "33-33-00-00-00-01",
        "00:00:00:00:00:00",
        "",
    ):
        r = await tc.post(path, json={"cpe_mac": bad})
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "cpe_mac"
    for form, canonical in (
        ("AA:BB:CC:DD:EE:10", "aa:bb:cc:dd:ee:10"),
        ("aa-bb-cc-dd-ee-11", "aa:bb:cc:dd:ee:11"),
        ("aabb.ccdd.ee12", "aa:bb:cc:dd:ee:12"),
        ("AABBCCDDEE13", "aa:bb:cc:dd:ee:13"),
    ):
        assert ok(await tc.post(path, json={"cpe_mac": form}))["cpe_mac"] == canonical
    # Taken by another live subscriber (pending here) → 409; freed once that one cancels.
    other = await work_order_in(tc, plan["id"], "in_progress")
    other_path = f"/api/v1/work-orders/{other['id']}/authenticate-cpe"
    r = await tc.post(other_path, json={"cpe_mac": "aa:bb:cc:dd:ee:13"})
    assert r.status_code == 409
    assert r.json()["field"] == "cpe_mac"
    ok(await tc.post(f"/api/v1/subscribers/{wo['subscriber_id']}/cancel"))
    ok(await tc.post(other_path, json={"cpe_mac": "aa:bb:cc:dd:ee:13"}))
    r = await tc.post(other_path, json={"cpe_mac": "aa:bb:cc:dd:ee:13", "access_point_id": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "access_point_id"


async def test_access_point_places_the_subscriber_at_its_site(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    site = ok(await tc.post("/api/v1/sites", json={"name": "Torre Norte"}), 201)
    ap = ok(
        await tc.post(
            "/api/v1/access-points",
            json={"site_id": site["id"], "name": "Sector 1", "frequency_mhz": 5800, "ssid": "n1"},
        ),
        201,
    )
    wo = await work_order_in(tc, plan["id"], "in_progress")
    ok(
        await tc.post(
            f"/api/v1/work-orders/{wo['id']}/authenticate-cpe",
            json={"cpe_mac": new_mac(), "access_point_id": ap["id"]},
        )
    )
    sub = ok(await tc.get(f"/api/v1/subscribers/{wo['subscriber_id']}"))
    assert (sub["access_point_id"], sub["site_id"]) == (ap["id"], site["id"])


async def test_activation_needs_the_cpe_of_this_work_order(make_tenant: Any) -> None:
    """A cancelled installation's CPE does not let a second installation activate."""
    tc = await make_tenant()
    plan = await make_plan(tc)
    first = await work_order_in(tc, plan["id"], "cpe_authenticated")
    ok(await tc.post(f"/api/v1/work-orders/{first['id']}/cancel", json={"reason": "no signal"}))
    second = ok(
        await tc.post(
            "/api/v1/work-orders",
            json={"subscriber_id": first["subscriber_id"], "kind": "installation"},
        ),
        201,
    )
    path = f"/api/v1/work-orders/{second['id']}"
    ok(await tc.post(f"{path}/schedule", json={"install_date": "2030-01-02"}))
    ok(await tc.post(f"{path}/start"))
    assert (await tc.post(f"{path}/activate")).status_code == 409
    sub = ok(await tc.get(f"/api/v1/subscribers/{first['subscriber_id']}"))
    assert (sub["status"], sub["cpe_mac"]) == ("pending_installation", None)


async def test_occurred_at_is_checked_and_sets_the_tenants_billing_day(make_tenant: Any) -> None:
    from tenants import hosts
    from tenants.registry import Tenant

    starts = []
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11
        tc = await make_tenant()
        await Tenant.update({Tenant.timezone: zone}).where(Tenant.slug == tc.slug)
        hosts.forget()
        plan = await make_plan(tc)
        wo = await work_order_in(tc, plan["id"], "cpe_authenticated")
        path = f"/api/v1/work-orders/{wo['id']}/activate"
        future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
        for bad in (future, "2030-01-01T10:00:00", "yesterday", "2000-01-01T00:00:00Z"):
            r = await tc.post(path, json={"occurred_at": bad})
            assert r.status_code == 422, bad
            assert r.json()["errors"][0]["field"] == "occurred_at"
        when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
        done = ok(await tc.post(path, json={"occurred_at": when.isoformat()}))
        assert done["activated_at"] == when.isoformat().replace("+00:00", "Z")
        sub = ok(await tc.get(f"/api/v1/subscribers/{wo['subscriber_id']}"))
        local = when.astimezone(zoneinfo.ZoneInfo(zone)).date()
        assert sub["billing_start_date"] == local.isoformat()
        starts.append(local)
    assert starts[0] != starts[1]  # 25 hours apart: one of them is not the UTC day


async def test_replayed_transitions_answer_the_same_and_change_nothing(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    wo = await work_order_in(tc, plan["id"], "scheduled")
    path = f"/api/v1/work-orders/{wo['id']}"
    start = ok(await tc.post(f"{path}/start", headers={"Idempotency-Key": "outbox-1"}))
    mac = {"cpe_mac": new_mac()}
    auth = ok(
        await tc.post(f"{path}/authenticate-cpe", json=mac, headers={"Idempotency-Key": "outbox-2"})
    )
    activated = ok(await tc.post(f"{path}/activate", headers={"Idempotency-Key": "outbox-3"}))
    # The portal invitation job (any time now, from the test worker) audits on its own.
    background = {"portal.invitation_sent"}
    before = [a for a in await audit_actions(tc) if a not in background]
    # The outbox replays everything, in order, after the network came back.
    assert ok(await tc.post(f"{path}/start", headers={"Idempotency-Key": "outbox-1"})) == start
    replay = await tc.post(
        f"{path}/authenticate-cpe", json=mac, headers={"Idempotency-Key": "outbox-2"}
    )
    assert ok(replay) == auth
    assert (
        ok(await tc.post(f"{path}/activate", headers={"Idempotency-Key": "outbox-3"})) == activated
    )
    assert [a for a in await audit_actions(tc) if a not in background] == before
    history = ok(await tc.get(f"/api/v1/subscribers/{wo['subscriber_id']}/history"))["items"]
    assert [h["to_status"] for h in history] == ["pending_installation", "active"]
    # Without its key, the same transition is judged afresh: it is no longer legal.
    r = await tc.post(f"{path}/start")
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    # A new key on a transition that is now illegal: 409 too, and nothing stored for it.
    assert (
        await tc.post(f"{path}/activate", headers={"Idempotency-Key": "new"})
    ).status_code == 409
    assert ok(
        await tc.post(
            f"{path}/sign-off", json={"signed_by": "A"}, headers={"Idempotency-Key": "new"}
        )
    )


async def test_technician_must_be_active_and_technical(two_tenants: Any) -> None:
    tc, other = two_tenants
    plan = await make_plan(tc)
    wo = await work_order_in(tc, plan["id"], "open")
    path = f"/api/v1/work-orders/{wo['id']}/schedule"
    _, sales_id = await staff(tc, "sales")
    _, gone_id = await staff(tc, "technical", active=False)
    _, foreign_id = await staff(other, "technical")
    for bad in (sales_id, gone_id, foreign_id, "nobody"):
        r = await tc.post(path, json={"install_date": "2030-01-01", "technician_id": bad})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "technician_id"
    r = await tc.post(path, json={"install_date": "2030-13-01"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "install_date"
    _, tech_id = await staff(tc, "technical")
    ok(await tc.post(path, json={"install_date": "2030-01-01", "technician_id": tech_id}))
    manager_id = ok(await tc.get("/api/v1/auth/me"))["id"]
    again = ok(
        await tc.post(path, json={"install_date": "2030-01-05", "technician_id": manager_id})
    )
    assert (again["install_date"], again["technician_id"]) == ("2030-01-05", manager_id)


async def test_roles_on_work_orders(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    clients = await team(tc)
    for role in ("customer_service", "finance"):
        client = clients[role]
        assert (await client.get("/api/v1/work-orders")).status_code == 403
        wo = await work_order_in(tc, plan["id"], "open")
        r = await client.post(f"/api/v1/work-orders/{wo['id']}/schedule", json=body_for("schedule"))
        assert r.status_code == 403
    sales = clients["sales"]
    wo = await work_order_in(tc, plan["id"], "open")
    path = f"/api/v1/work-orders/{wo['id']}"
    ok(await sales.post(f"{path}/schedule", json=body_for("schedule")))
    for verb in ("start", "authenticate-cpe", "activate", "sign-off"):
        assert (await sales.post(f"{path}/{verb}", json=body_for(verb))).status_code == 403
    ok(await clients["technical"].post(f"{path}/start"))
    ok(await sales.post(f"{path}/cancel", json={"reason": "customer changed mind"}))
    await close(clients)


async def test_repair_replaces_the_cpe_and_the_gateways_learn_the_new_mac(
    make_tenant: Any,
) -> None:
    from app import netstate
    from tenants.scope import tenant_scope
    from tests.support.provisioning import active_subscriber

    tc = await make_tenant()
    sub = await active_subscriber(tc)
    bad = await tc.post(
        "/api/v1/work-orders", json={"subscriber_id": sub["id"], "kind": "installation"}
    )
    assert bad.status_code == 409
    assert (
        await tc.post("/api/v1/work-orders", json={"subscriber_id": sub["id"], "kind": "party"})
    ).status_code == 422
    repair = ok(
        await tc.post(
            "/api/v1/work-orders",
            json={"subscriber_id": sub["id"], "kind": "repair", "description": "no link"},
        ),
        201,
    )
    path = f"/api/v1/work-orders/{repair['id']}"
    ok(await tc.post(f"{path}/schedule", json=body_for("schedule")))
    ok(await tc.post(f"{path}/start"))
    assert (await tc.post(f"{path}/activate")).status_code == 409  # only installations
    mac = new_mac()
    ok(await tc.post(f"{path}/authenticate-cpe", json={"cpe_mac": mac}))
    ok(await tc.post(f"{path}/sign-off", json={"signed_by": "Ana"}))
    async with tenant_scope(await tenant_ref(tc)):
        state = await netstate.current_state()
    [entry] = [e for e in state.entries if str(e.subscriber_id) == sub["id"]]
    assert (entry.mac, entry.enabled) == (mac, True)
    maintenance = ok(
        await tc.post(
            "/api/v1/work-orders", json={"subscriber_id": sub["id"], "kind": "maintenance"}
        ),
        201,
    )
    mpath = f"/api/v1/work-orders/{maintenance['id']}"
    ok(await tc.post(f"{mpath}/schedule", json=body_for("schedule")))
    ok(await tc.post(f"{mpath}/start"))
    assert (
        await tc.post(f"{mpath}/authenticate-cpe", json=body_for("authenticate-cpe"))
    ).status_code == 409
    ok(await tc.post(f"{mpath}/sign-off", json={"signed_by": "Ana"}))


async def test_list_filters_and_pages(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    made = [await work_order_in(tc, plan["id"], "open") for _ in range(3)]
    scheduled = await work_order_in(tc, plan["id"], "scheduled")
    items = ok(await tc.get("/api/v1/work-orders?status=scheduled"))["items"]
    assert [w["id"] for w in items] == [scheduled["id"]]
    one = ok(await tc.get(f"/api/v1/work-orders?subscriber_id={made[0]['subscriber_id']}"))
    assert [w["id"] for w in one["items"]] == [made[0]["id"]]
    assert (await tc.get("/api/v1/work-orders?status=done")).status_code == 422
    assert (await tc.get("/api/v1/work-orders?subscriber_id=x")).status_code == 422
    seen, cursor = [], None
    while True:
        page = ok(
            await tc.get("/api/v1/work-orders?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        )
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [scheduled["id"], *[m["id"] for m in reversed(made)]]


async def test_notes(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    tech, tech_id = await staff(tc, "technical")
    wo = await work_order_in(tc, plan["id"], "scheduled")
    path = f"/api/v1/work-orders/{wo['id']}/notes"
    assert (await tech.post(path, json={"body": "  "})).status_code == 422
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=20)).isoformat()
    key = {"Idempotency-Key": "note-1"}
    note = ok(
        await tech.post(path, json={"body": "Dog in yard", "occurred_at": earlier}, headers=key),
        201,
    )
    again = ok(
        await tech.post(path, json={"body": "Dog in yard", "occurred_at": earlier}, headers=key),
        201,
    )
    assert note == again
    ok(await tc.post(path, json={"body": "Call first"}), 201)
    notes = ok(await tech.get(path))["items"]
    assert (notes[0]["body"], notes[0]["author_id"]) == ("Dog in yard", tech_id)
    assert len(notes) == 2
    await tech.client.aclose()


async def test_other_tenant_cannot_reach_work_orders(two_tenants: Any) -> None:
    a, b = two_tenants
    plan = await make_plan(a)
    wo = await work_order_in(a, plan["id"], "scheduled")
    note = ok(await a.post(f"/api/v1/work-orders/{wo['id']}/notes", json={"body": "x"}), 201)
    assert note
    b_sub = await make_subscriber(b, (await make_plan(b))["id"])
    path = f"/api/v1/work-orders/{wo['id']}"
    await assert_unreachable(
        a,
        b,
        [("GET", path, None)]
        + [("POST", f"{path}/{verb}", body_for(verb)) for verb in VERBS]
        + [
            ("GET", f"{path}/notes", None),
            ("POST", f"{path}/notes", {"body": "hi"}),
            ("GET", f"{path}/photos", None),
            ("GET", f"{path}/photos/00000000-0000-0000-0000-000000000000", None),
            (
                "POST",
                "/api/v1/work-orders",
                {"subscriber_id": wo["subscriber_id"], "kind": "repair"},
            ),
        ],
    )
    assert (
        ok(await b.get(f"/api/v1/work-orders?subscriber_id={wo['subscriber_id']}"))["items"] == []
    )
    assert ok(await a.get(path)) == wo
    # B's own work order cannot be given A's technician.
    _, a_tech = await staff(a, "technical")
    r = await b.post(
        f"/api/v1/work-orders/{b_sub['installation_work_order_id']}/schedule",
        json={"install_date": "2030-01-01", "technician_id": a_tech},
    )
    assert r.status_code == 422


# The state machine, property-based ------------------------------------------------------------

OPS = (
    "schedule",
    "start",
    "authenticate",
    "authenticate-malformed",
    "authenticate-taken",
    "activate",
    "sign-off",
    "cancel-work-order",
    "new-installation",
    "new-repair",
    "suspend",
    "resume",
    "cancel-subscriber",
)
_shared: dict[str, Any] = {}

INVARIANT_SQL = """
SELECT s.id, s.status, s.cpe_mac FROM subscriber s
WHERE s.status IN ('active', 'suspended') AND (
    s.cpe_mac IS NULL OR s.cpe_authenticated_at IS NULL OR NOT EXISTS (
        SELECT 1 FROM work_order w WHERE w.subscriber = s.id
        AND w.cpe_mac = s.cpe_mac AND w.cpe_authenticated_at IS NOT NULL))
"""


async def _apply(tc: Any, state: dict[str, Any], op: str) -> None:
    sub, wo = state["subscriber"], f"/api/v1/work-orders/{state['work_order']}"
    subscriber = f"/api/v1/subscribers/{sub}"
    if op == "schedule":
        r = await tc.post(f"{wo}/schedule", json={"install_date": "2030-05-05"})
    elif op in ("start", "activate"):
        r = await tc.post(f"{wo}/{op}")
    elif op == "authenticate":
        r = await tc.post(f"{wo}/authenticate-cpe", json={"cpe_mac": new_mac()})
    elif op == "authenticate-malformed":
        r = await tc.post(f"{wo}/authenticate-cpe", json={"cpe_mac": "01:00:5e:00:00:01"})
    elif op == "authenticate-taken":
        r = await tc.post(f"{wo}/authenticate-cpe", json={"cpe_mac": state["neighbour_mac"]})
    elif op == "sign-off":
        r = await tc.post(f"{wo}/sign-off", json={"signed_by": "Ana"})
    elif op == "cancel-work-order":
        r = await tc.post(f"{wo}/cancel")
    elif op in ("new-installation", "new-repair"):
        kind = op.removeprefix("new-")
        r = await tc.post("/api/v1/work-orders", json={"subscriber_id": sub, "kind": kind})
        if r.status_code == 201:
            state["work_order"] = r.json()["id"]
    elif op == "suspend":
        r = await tc.post(f"{subscriber}/suspend", json={"reason": "admin"})
    elif op == "resume":
        r = await tc.post(f"{subscriber}/resume")
    else:
        r = await tc.post(f"{subscriber}/cancel")
    assert r.status_code in (200, 201, 409, 422), (op, r.status_code, r.text)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(st.sampled_from(OPS), max_size=14))
async def test_no_sequence_of_calls_leaves_a_subscriber_active_without_an_authenticated_cpe(
    make_tenant: Any, ops: list[str]
) -> None:
    from app import netstate
    from tenants.scope import tenant_scope
    from tests.support.provisioning import active_subscriber

    # One tenant for all examples of this test (the fixture is shared by them).
    if _shared.get("fixture") is not make_tenant:
        tc = await make_tenant()
        plan = await make_plan(tc)
        neighbour = await active_subscriber(tc, plan["id"])
        _shared.update(
            fixture=make_tenant,
            world=(tc, plan, neighbour["cpe_mac"], await tenant_ref(tc)),
        )
    tc, plan, neighbour_mac, tenant = _shared["world"]
    sub = await make_subscriber(tc, plan["id"])
    state = {
        "subscriber": sub["id"],
        "work_order": sub["installation_work_order_id"],
        "neighbour_mac": neighbour_mac,
    }
    for op in ops:
        await _apply(tc, state, op)
        async with tenant_scope(tenant) as scope:
            broken = await scope.connection.fetch(INVARIANT_SQL)
            assert broken == [], (ops, broken)
            row = await scope.connection.fetchrow(
                "SELECT status, cpe_mac FROM subscriber WHERE id = $1", sub["id"]
            )
            entries = {e.subscriber_id: e for e in (await netstate.current_state()).entries}
        entry = entries.get(uuid.UUID(sub["id"]))
        if row["status"] == "active":
            assert entry is not None, ops
            assert (entry.enabled, entry.mac) == (True, row["cpe_mac"]), ops
        elif entry is not None:
            assert entry.enabled is False, ops  # suspended or cancelled: cut off


# The issue's "done means" ---------------------------------------------------------------------


async def test_done_means_tier_2_sold_installed_activated_and_audited(make_tenant: Any) -> None:
    from app.core.audit import AuditEvent
    from tenants.scope import tenant_scope

    manager = await make_tenant()
    plan = ok(
        await manager.post(
            "/api/v1/rate-plans",
            json={
                "name": "Tier 2",
                "download_kbps": 5000,
                "upload_kbps": 500,
                "monthly_price": "15.00",
            },
        ),
        201,
    )
    sales, _ = await staff(manager, "sales")
    tech, tech_id = await staff(manager, "technical")
    sub = ok(
        await sales.post(
            "/api/v1/subscribers",
            json={
                "name": "María Pérez",
                "email": "maria@example.com",
                "phone": "+52 55 1111 2222",
                "address": "Camino Real 5",
                "plan_id": plan["id"],
            },
        ),
        201,
    )
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    ok(
        await tech.post(
            f"{wo}/schedule", json={"install_date": "2030-06-01", "technician_id": tech_id}
        )
    )
    ok(await tech.post(f"{wo}/start"))
    ok(await tech.post(f"{wo}/authenticate-cpe", json={"cpe_mac": "aa:bb:cc:dd:ee:01"}))
    ok(await tech.post(f"{wo}/activate"))
    today = dt.datetime.now(dt.UTC).date().isoformat()  # the tenant's zone is UTC
    active = ok(await manager.get(f"/api/v1/subscribers/{sub['id']}"))
    assert (active["status"], active["cpe_mac"], active["billing_start_date"]) == (
        "active",
        "aa:bb:cc:dd:ee:01",
        today,
    )
    assert (active["plan_id"], plan["monthly_price"], plan["currency"]) == (
        plan["id"],
        "15.00",
        "USD",
    )
    async with tenant_scope(await tenant_ref(manager)):
        events = await AuditEvent.select(
            AuditEvent.action, AuditEvent.actor_label, AuditEvent.object_id
        ).order_by(AuditEvent.occurred_at)
    story = [
        (e["action"], e["actor_label"].split("-")[0].split("@")[0])
        for e in events
        if e["action"].startswith(("rate_plan.", "subscriber.", "work_order."))
    ]
    assert story == [
        ("rate_plan.create", "owner"),
        ("subscriber.create", "sales"),
        ("work_order.create", "sales"),
        ("work_order.scheduled", "technical"),
        ("work_order.in_progress", "technical"),
        ("work_order.cpe_authenticated", "technical"),
        ("subscriber.activate", "technical"),
        ("work_order.activated", "technical"),
    ]
    await sales.client.aclose()
    await tech.client.aclose()


# Photos --------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


async def test_photos_are_checked_stored_per_tenant_and_served_to_staff(
    two_tenants: Any,
) -> None:
    from app.core.config import get_settings

    tc, other = two_tenants
    plan = await make_plan(tc)
    wo = await work_order_in(tc, plan["id"], "in_progress")
    path = f"/api/v1/work-orders/{wo['id']}/photos"
    tech, _ = await staff(tc, "technical")
    png = ok(await tech.post(path, content=PNG, headers={"Content-Type": "image/png"}), 201)
    jpeg = ok(
        await tech.post(
            path,
            files={"file": ("antenna.png", JPEG, "image/png")},  # the name lies; bytes decide
            data={"caption": "Antenna on roof"},
        ),
        201,
    )
    webp = ok(await tech.post(path, content=WEBP), 201)
    assert [p["content_type"] for p in (png, jpeg, webp)] == [
        "image/png",
        "image/jpeg",
        "image/webp",
    ]
    assert jpeg["caption"] == "Antenna on roof"
    for bad in (b"GIF89a" + b"\x00" * 20, b"<svg onload=alert(1)>", b""):
        r = await tech.post(path, files={"file": ("x.jpg", bad, "image/jpeg")})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "file"
    too_big = PNG + b"\x00" * (10 * 1024 * 1024)
    assert (await tech.post(path, content=too_big)).status_code in (413, 422)
    listed = ok(await tc.get(path))["items"]
    assert [p["id"] for p in listed] == [png["id"], jpeg["id"], webp["id"]]
    r = await tc.get(png["url"])
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, PNG, "image/png")
    assert r.headers["x-content-type-options"] == "nosniff"
    tenant = await tenant_ref(tc)
    stored = list((Path(get_settings().media_dir) / str(tenant.id)).rglob("*.*"))
    assert sorted(p.name for p in stored) == sorted(
        f"{p['id']}.{ext}" for p, ext in ((png, "png"), (jpeg, "jpg"), (webp, "webp"))
    )
    key = {"Idempotency-Key": "photo-1"}
    first = ok(await tech.post(path, content=PNG, headers=key), 201)
    assert ok(await tech.post(path, content=PNG, headers=key), 201) == first
    assert len(ok(await tc.get(path))["items"]) == 4
    cs, _ = await staff(tc, "customer_service")
    assert (await cs.get(png["url"])).status_code == 403
    await assert_unreachable(
        tc, other, [("GET", png["url"], None), ("GET", path, None), ("POST", path, None)]
    )
    other_wo = await work_order_in(other, (await make_plan(other))["id"], "open")
    r = await other.get(f"/api/v1/work-orders/{other_wo['id']}/photos/{png['id']}")
    assert r.status_code == 404  # A's photo id under B's own work order
    await tech.client.aclose()
    await cs.client.aclose()
