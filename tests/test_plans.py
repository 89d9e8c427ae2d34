"""Rate plans: money as decimal strings, validation, roles, archive, other tenants."""

from __future__ import annotations

from typing import Any

from tests.support.provisioning import (
    active_subscriber,
    assert_unreachable,
    close,
    intruder,
    make_plan,
    make_subscriber,
    ok,
    team,
)


async def test_manager_creates_and_reads_a_plan_with_money_as_strings(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(
        tc,
        name="Tier 2",
        monthly_price="15.00",
        setup_fee="49.9",
        tax_rate="16",
        data_cap_gb=200,
        cap_action="throttle",
        throttle_download_kbps=1000,
        throttle_upload_kbps=256,
    )
    assert plan["monthly_price"] == "15.00"
    assert plan["setup_fee"] == "49.90"
    assert plan["tax_rate"] == "16.00"
    assert plan["currency"] == "USD"
    assert plan["cap_action"] == "throttle"
    again = ok(await tc.get(f"/api/v1/rate-plans/{plan['id']}"))
    assert again == plan
    listed = ok(await tc.get("/api/v1/rate-plans"))["items"]
    assert [p["id"] for p in listed] == [plan["id"]]
    precise = await make_plan(tc, monthly_price="0.1250")
    assert precise["monthly_price"] == "0.125"


async def test_json_numbers_for_money_are_refused_naming_the_field(make_tenant: Any) -> None:
    tc = await make_tenant()
    body = {"name": "Float", "download_kbps": 5000, "upload_kbps": 500, "monthly_price": 15.0}
    r = await tc.post("/api/v1/rate-plans", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["monthly_price"]
    r = await tc.post("/api/v1/rate-plans", json={**body, "monthly_price": "15", "setup_fee": 5})
    assert [e["field"] for e in r.json()["errors"]] == ["setup_fee"]
    assert ok(await tc.get("/api/v1/rate-plans"))["items"] == []


async def test_every_invalid_field_is_named_and_nothing_is_created(make_tenant: Any) -> None:
    tc = await make_tenant()
    cases = [
        ({"name": ""}, "name"),
        ({"download_kbps": 0}, "download_kbps"),
        ({"upload_kbps": 10_000_001}, "upload_kbps"),
        ({"monthly_price": "-1.00"}, "monthly_price"),
        ({"monthly_price": "15.123456"}, "monthly_price"),
        ({"monthly_price": "1e3"}, "monthly_price"),
        ({"setup_fee": "abc"}, "setup_fee"),
        ({"tax_rate": "101"}, "tax_rate"),
        ({"data_cap_gb": 0, "cap_action": "block"}, "data_cap_gb"),
        ({"data_cap_gb": 100}, "cap_action"),
        ({"cap_action": "block"}, "cap_action"),
        ({"data_cap_gb": 100, "cap_action": "throttle"}, "throttle_download_kbps"),
        (
            {
                "data_cap_gb": 100,
                "cap_action": "throttle",
                "throttle_download_kbps": 9000,
                "throttle_upload_kbps": 100,
            },
            "throttle_download_kbps",
        ),
        ({"throttle_upload_kbps": 100}, "throttle_upload_kbps"),
    ]
    base = {"name": "P", "download_kbps": 5000, "upload_kbps": 500, "monthly_price": "10.00"}
    for change, field in cases:
        r = await tc.post("/api/v1/rate-plans", json={**base, **change})
        assert r.status_code == 422, (change, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (change, r.json())
    assert ok(await tc.get("/api/v1/rate-plans"))["items"] == []


async def test_duplicate_name_is_a_conflict_until_archived(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc, name="Basic")
    r = await tc.post(
        "/api/v1/rate-plans",
        json={"name": "basic", "download_kbps": 1, "upload_kbps": 1, "monthly_price": "1"},
    )
    assert r.status_code == 409
    ok(await tc.post(f"/api/v1/rate-plans/{plan['id']}/archive"))
    await make_plan(tc, name="Basic")


async def test_patch_validates_the_merged_plan_and_speed_changes_reach_netstate(
    make_tenant: Any,
) -> None:
    from app import netstate
    from tenants.scope import tenant_scope
    from tests.support.provisioning import tenant_ref

    tc = await make_tenant()
    plan = await make_plan(tc)
    sub = await active_subscriber(tc, plan["id"])
    r = await tc.patch(f"/api/v1/rate-plans/{plan['id']}", json={"upload_kbps": 0})
    assert r.status_code == 422
    r = await tc.patch(f"/api/v1/rate-plans/{plan['id']}", json={"monthly_price": 20})
    assert r.status_code == 422
    changed = ok(
        await tc.patch(
            f"/api/v1/rate-plans/{plan['id']}",
            json={"download_kbps": 8000, "monthly_price": "18.50"},
        )
    )
    assert changed["download_kbps"] == 8000
    assert changed["monthly_price"] == "18.50"
    async with tenant_scope(await tenant_ref(tc)):
        state = await netstate.current_state()
    [entry] = [e for e in state.entries if str(e.subscriber_id) == sub["id"]]
    assert (entry.download_kbps, entry.upload_kbps, entry.enabled) == (8000, 500, True)


async def test_a_plan_in_use_is_archived_never_deleted(make_tenant: Any) -> None:
    tc = await make_tenant()
    unused = await make_plan(tc)
    assert (await tc.delete(f"/api/v1/rate-plans/{unused['id']}")).status_code == 204
    assert (await tc.get(f"/api/v1/rate-plans/{unused['id']}")).status_code == 404
    used = await make_plan(tc)
    await make_subscriber(tc, used["id"])
    r = await tc.delete(f"/api/v1/rate-plans/{used['id']}")
    assert r.status_code == 409
    archived = ok(await tc.post(f"/api/v1/rate-plans/{used['id']}/archive"))
    assert archived["archived"] is True
    assert ok(await tc.get("/api/v1/rate-plans"))["items"] == []
    all_plans = ok(await tc.get("/api/v1/rate-plans?include_archived=true"))["items"]
    assert [p["id"] for p in all_plans] == [used["id"]]
    # An archived plan cannot be chosen for a new subscriber.
    r = await tc.post(
        "/api/v1/subscribers",
        json={"name": "New", "email": "new@example.com", "plan_id": used["id"]},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "plan_id"


async def test_only_the_manager_changes_plans_and_every_role_reads(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    clients = await team(tc)
    body = {"name": "X", "download_kbps": 1, "upload_kbps": 1, "monthly_price": "1"}
    for role, client in clients.items():
        assert (await client.get("/api/v1/rate-plans")).status_code == 200, role
        assert (await client.get(f"/api/v1/rate-plans/{plan['id']}")).status_code == 200
        if role == "manager":
            continue
        assert (await client.post("/api/v1/rate-plans", json=body)).status_code == 403, role
        r = await client.patch(f"/api/v1/rate-plans/{plan['id']}", json={"name": "Y"})
        assert r.status_code == 403
        assert (await client.post(f"/api/v1/rate-plans/{plan['id']}/archive")).status_code == 403
        assert (await client.delete(f"/api/v1/rate-plans/{plan['id']}")).status_code == 403
    await close(clients)


async def test_idempotent_create(make_tenant: Any) -> None:
    tc = await make_tenant()
    body = {"name": "Once", "download_kbps": 1, "upload_kbps": 1, "monthly_price": "1"}
    headers = {"Idempotency-Key": "plan-1"}
    first = ok(await tc.post("/api/v1/rate-plans", json=body, headers=headers), 201)
    again = ok(await tc.post("/api/v1/rate-plans", json=body, headers=headers), 201)
    assert first == again
    assert len(ok(await tc.get("/api/v1/rate-plans"))["items"]) == 1


async def test_other_tenant_cannot_reach_plans(two_tenants: Any) -> None:
    a, b = two_tenants
    plan = await make_plan(a)
    pid = plan["id"]
    await assert_unreachable(
        a,
        b,
        [
            ("GET", f"/api/v1/rate-plans/{pid}", None),
            ("PATCH", f"/api/v1/rate-plans/{pid}", {"name": "Stolen"}),
            ("POST", f"/api/v1/rate-plans/{pid}/archive", None),
            ("DELETE", f"/api/v1/rate-plans/{pid}", None),
        ],
    )
    assert ok(await b.get("/api/v1/rate-plans"))["items"] == []
    stranger = await intruder(a, b)
    assert (await stranger.get("/api/v1/rate-plans")).status_code == 401
    body = {"name": "X", "download_kbps": 1, "upload_kbps": 1, "monthly_price": "1"}
    assert (await stranger.post("/api/v1/rate-plans", json=body)).status_code == 401
    await stranger.client.aclose()
    assert ok(await a.get(f"/api/v1/rate-plans/{pid}")) == plan
    assert ok(await b.get("/api/v1/rate-plans"))["items"] == []
