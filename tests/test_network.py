"""Network inventory: sites with coordinates, access points, roles, other tenants."""

from __future__ import annotations

from typing import Any

from tests.support.provisioning import (
    assert_unreachable,
    close,
    make_plan,
    make_subscriber,
    ok,
    team,
)


async def test_sites_and_access_points(make_tenant: Any) -> None:
    tc = await make_tenant()
    site = ok(
        await tc.post(
            "/api/v1/sites",
            json={
                "name": "Cerro Azul",
                "kind": "tower",
                "latitude": 19.4326,
                "longitude": -99.1332,
            },
        ),
        201,
    )
    assert (site["latitude"], site["longitude"]) == (19.4326, -99.1332)
    for bad, field in (
        ({"name": "X", "latitude": 91, "longitude": 0}, "latitude"),
        ({"name": "X", "latitude": 0, "longitude": -180.5}, "longitude"),
        ({"name": "X", "latitude": 10}, "longitude"),
        ({"name": "X", "kind": "house"}, "kind"),
        ({"name": ""}, "name"),
    ):
        r = await tc.post("/api/v1/sites", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == field
    assert (await tc.post("/api/v1/sites", json={"name": "cerro azul"})).status_code == 409
    noc = ok(await tc.post("/api/v1/sites", json={"name": "NOC", "kind": "noc"}), 201)
    moved = ok(await tc.patch(f"/api/v1/sites/{noc['id']}", json={"latitude": 1, "longitude": 2}))
    assert (moved["latitude"], moved["longitude"]) == (1.0, 2.0)
    assert [s["name"] for s in ok(await tc.get("/api/v1/sites"))["items"]] == ["Cerro Azul", "NOC"]
    ap = ok(
        await tc.post(
            "/api/v1/access-points",
            json={
                "site_id": site["id"],
                "name": "Sector N",
                "frequency_mhz": 5180,
                "ssid": "wisp-n",
            },
        ),
        201,
    )
    for bad, field in (
        ({"site_id": "nope", "name": "S", "frequency_mhz": 5180}, "site_id"),
        ({"site_id": site["id"], "name": "S", "frequency_mhz": 5}, "frequency_mhz"),
        ({"site_id": site["id"], "name": "S", "frequency_mhz": 5180, "ssid": "ñ" * 17}, "ssid"),
    ):
        r = await tc.post("/api/v1/access-points", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == field
    listed = ok(await tc.get(f"/api/v1/access-points?site_id={site['id']}"))["items"]
    assert [a["id"] for a in listed] == [ap["id"]]
    assert ok(await tc.get(f"/api/v1/access-points?site_id={noc['id']}"))["items"] == []
    assert (await tc.delete(f"/api/v1/sites/{site['id']}")).status_code == 409  # has an AP
    ok(await tc.patch(f"/api/v1/access-points/{ap['id']}", json={"site_id": noc["id"]}))
    assert (await tc.delete(f"/api/v1/sites/{site['id']}")).status_code == 204
    # An access point a subscriber's CPE uses stays.
    plan = await make_plan(tc)
    sub = await make_subscriber(tc, plan["id"])
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    ok(await tc.post(f"{wo}/schedule", json={"install_date": "2030-01-01"}))
    ok(await tc.post(f"{wo}/start"))
    ok(
        await tc.post(
            f"{wo}/authenticate-cpe",
            json={"cpe_mac": "02:00:00:00:00:01", "access_point_id": ap["id"]},
        )
    )
    assert (await tc.delete(f"/api/v1/access-points/{ap['id']}")).status_code == 409


async def test_roles_on_the_network(make_tenant: Any) -> None:
    tc = await make_tenant()
    site = ok(await tc.post("/api/v1/sites", json={"name": "T1"}), 201)
    clients = await team(tc)
    for role, client in clients.items():
        assert (await client.get("/api/v1/sites")).status_code == 200
        assert (await client.get(f"/api/v1/sites/{site['id']}")).status_code == 200
        assert (await client.get("/api/v1/access-points")).status_code == 200
        writes = role in ("manager", "technical")
        r = await client.post("/api/v1/sites", json={"name": f"T-{role}"})
        assert r.status_code == (201 if writes else 403), role
        r = await client.post(
            "/api/v1/access-points",
            json={"site_id": site["id"], "name": f"AP-{role}", "frequency_mhz": 5800},
        )
        assert r.status_code == (201 if writes else 403), role
        r = await client.patch(f"/api/v1/sites/{site['id']}", json={"notes": role})
        assert r.status_code == (200 if writes else 403), role
    await close(clients)


async def test_other_tenant_cannot_reach_the_network(two_tenants: Any) -> None:
    a, b = two_tenants
    site = ok(await a.post("/api/v1/sites", json={"name": "Alpha"}), 201)
    ap = ok(
        await a.post(
            "/api/v1/access-points",
            json={"site_id": site["id"], "name": "S1", "frequency_mhz": 5800},
        ),
        201,
    )
    await assert_unreachable(
        a,
        b,
        [
            ("GET", f"/api/v1/sites/{site['id']}", None),
            ("PATCH", f"/api/v1/sites/{site['id']}", {"name": "Mine"}),
            ("DELETE", f"/api/v1/sites/{site['id']}", None),
            ("GET", f"/api/v1/access-points/{ap['id']}", None),
            ("PATCH", f"/api/v1/access-points/{ap['id']}", {"name": "Mine"}),
            ("DELETE", f"/api/v1/access-points/{ap['id']}", None),
            ("GET", f"/api/v1/access-points?site_id={site['id']}", None),
            (
                "POST",
                "/api/v1/access-points",
                {"site_id": site["id"], "name": "Sneaky", "frequency_mhz": 5800},
            ),
        ],
    )
    assert ok(await b.get("/api/v1/sites"))["items"] == []
    assert ok(await b.get("/api/v1/access-points"))["items"] == []
    assert ok(await a.get(f"/api/v1/access-points/{ap['id']}")) == ap


async def test_a_site_a_gateway_serves_cannot_be_deleted(make_tenant: Any) -> None:
    tc = await make_tenant()
    site = ok(await tc.post("/api/v1/sites", json={"name": "Cerro Verde"}), 201)
    r = await tc.post("/api/v1/gateways", json={"name": "gw-1", "site_ids": [site["id"]]})
    assert r.status_code == 201, r.text
    r = await tc.delete(f"/api/v1/sites/{site['id']}")
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await tc.get(f"/api/v1/sites/{site['id']}")).status_code == 200
