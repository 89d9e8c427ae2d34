"""CSV import, defect 7 of issue 12: the single-subscriber routes' role rules apply row by row,
so sales cannot put a device online (or record a CPE's MAC) without a technician."""

from __future__ import annotations

from typing import Any

from tests.conftest import http
from tests.support.provisioning import intruder, make_plan, new_mac, ok, staff, tenant_ref

HEADER = "name,email,plan,status,cpe_mac\n"
CSV = {"Content-Type": "text/csv"}


def mixed(macs: list[str]) -> bytes:
    return (
        HEADER
        + f"Ana,ana@example.com,Basic,active,{macs[0]}\n"  # line 2: online at once
        + f"Bruno,bruno@example.com,Basic,suspended,{macs[1]}\n"  # line 3: known to the network
        + f"Carla,carla@example.com,Basic,,{macs[2]}\n"  # line 4: a MAC recorded by sales
        + "Dora,dora@example.com,Basic,,\n"  # line 5: waits for a technician: fine
    ).encode()


FORBIDDEN = {(2, "status"), (2, "cpe_mac"), (3, "status"), (3, "cpe_mac"), (4, "cpe_mac")}


async def network_state(tc: Any) -> dict[str, Any]:
    from app import netstate
    from tenants.scope import tenant_scope

    async with tenant_scope(await tenant_ref(tc)):
        state = await netstate.current_state()
    return {e.mac: e for e in state.entries}


async def subscriber_emails(tc: Any) -> set[str]:
    return {s["email"] for s in ok(await tc.get("/api/v1/subscribers"))["items"]}


async def test_defect_7_sales_cannot_put_a_device_online_by_import(
    two_tenants: Any, app: Any
) -> None:
    tc, other = two_tenants
    await make_plan(tc, name="Basic")
    await make_plan(other, name="Basic")
    macs = [new_mac() for _ in range(3)]
    body = mixed(macs)
    sales, _ = await staff(tc, "sales")
    # The dry run says which rows need a manager, and why.
    report = ok(await sales.post("/api/v1/subscribers/import?dry_run=true", content=body))
    assert {(e["row"], e["field"]) for e in report["errors"]} == FORBIDDEN
    assert report["created"] == 1
    # The import is refused whole, as the single routes refuse sales: 403, nothing written.
    r = await sales.post("/api/v1/subscribers/import", content=body, headers=CSV)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/problems/import-forbidden"
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == FORBIDDEN
    assert await subscriber_emails(tc) == set()
    assert await network_state(tc) == {}
    # A sales API token is held to the same rules.
    token = ok(await tc.post("/api/v1/api-tokens", json={"name": "CRM", "role": "sales"}), 201)
    async with http(app, tc.host) as integration:
        r = await integration.post(
            "/api/v1/subscribers/import",
            content=body,
            headers={**CSV, "Authorization": f"Bearer {token['token']}"},
        )
        assert r.status_code == 403, r.text
    assert await network_state(tc) == {}
    # Sales imports the subscribers that wait for an installation.
    pending = (HEADER + "Dora,dora@example.com,Basic,,\n").encode()
    done = ok(await sales.post("/api/v1/subscribers/import", content=pending, headers=CSV))
    assert done["created"] == 1
    assert await network_state(tc) == {}
    # A's sales session on B's host is nobody there; B's network is untouched.
    stranger = await intruder(sales, other)
    r = await stranger.post("/api/v1/subscribers/import", content=body, headers=CSV)
    assert r.status_code == 401
    assert await subscriber_emails(other) == set()
    await stranger.client.aclose()
    await sales.client.aclose()
    # The manager may do every step, so the manager's import puts the devices online.
    done = ok(await tc.post("/api/v1/subscribers/import", content=body, headers=CSV))
    assert (done["created"], done["existing"]) == (3, 1)
    state = await network_state(tc)
    assert state[macs[0]].enabled is True
    assert (state[macs[1]].enabled, state[macs[1]].reason) == (False, "admin")
    assert macs[2] not in state  # waiting for installation: nothing to enforce yet
    assert await network_state(other) == {}


async def test_roles_that_may_not_add_subscribers_may_not_import(make_tenant: Any) -> None:
    tc = await make_tenant()
    await make_plan(tc, name="Basic")
    body = (HEADER + "Dora,dora@example.com,Basic,,\n").encode()
    for role in ("technical", "finance", "customer_service"):
        client, _ = await staff(tc, role)
        r = await client.post("/api/v1/subscribers/import?dry_run=true", content=body)
        assert r.status_code == 403, (role, r.text)
        await client.client.aclose()
    assert await subscriber_emails(tc) == set()
