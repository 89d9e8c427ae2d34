"""The desired state follows the subscriber: moves between sites, access points moved, gateways'
sites changed. Each gateway is replayed as the reference agent keeps its state (its `merge` of
every full and delta answer), so what is checked is what a real gateway would hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import TenantClient
from tests.support.provisioning import install, make_plan, make_subscriber, ok
from tests.test_gateways_support import app_of, enrolled, gateway_client, make_site


@dataclass
class Box:
    """A gateway in the field: its client and the state it holds, as the agent merges it."""

    gateway: dict[str, Any]
    client: httpx.AsyncClient
    version: int | None = None
    epoch: int | None = None
    held: dict[str, Any] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.gateway["id"])

    async def sync(self, *, send_epoch: bool = True, ack: bool = True) -> dict[str, Any]:
        """One state answer, merged as the agent does, then acknowledged."""
        from wisp_gateway.model import merge

        params: dict[str, Any] = {}
        if self.version is not None:
            params["since"] = self.version
            if send_epoch and self.epoch is not None:
                params["epoch"] = self.epoch
        answer: dict[str, Any] = ok(await self.client.get("/gateway/v1/state", params=params))
        self.held, bad = merge(self.held, answer)
        assert bad == [], bad
        self.version, self.epoch = answer["version"], answer["epoch"]
        self.answers.append(answer)
        if ack:
            ok(await self.client.post("/gateway/v1/ack", json={"version": answer["version"]}))
        return answer

    def holds(self, subscriber_id: str) -> dict[str, Any] | None:
        entry = self.held.get(subscriber_id)
        if entry is None:
            return None
        return {
            "mac": entry.mac,
            "enabled": entry.enabled,
            "reason": entry.reason,
            "download_kbps": entry.download_kbps,
            "upload_kbps": entry.upload_kbps,
        }


async def box(tc: TenantClient, site_ids: list[str]) -> Box:
    gateway, secret = await enrolled(tc, site_ids=site_ids)
    return Box(gateway, gateway_client(app_of(tc), secret))


async def active_at(tc: TenantClient, plan_id: str, site_id: str) -> dict[str, Any]:
    sub = await make_subscriber(tc, plan_id, site_id=site_id)
    await install(tc, sub["installation_work_order_id"])
    return ok(await tc.get(f"/api/v1/subscribers/{sub['id']}"))  # type: ignore[no-any-return]


def by_gateway(enforcement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["gateway_id"]: g for g in enforcement["gateways"]}


async def test_defect_1_site_move_reaches_both_gateways(two_tenants: Any) -> None:
    """GW1 serves T1, GW2 serves T2; a subscriber active on T1 moves to T2, then is suspended:
    GW1 must forget it, GW2 must take it and then cut it off, and enforcement must say so."""
    tc, other = two_tenants
    t1, t2 = await make_site(tc), await make_site(tc)
    plan = await make_plan(tc, download_kbps=8000, upload_kbps=1000)
    sub = await active_at(tc, plan["id"], t1["id"])
    gw1, gw2 = await box(tc, [t1["id"]]), await box(tc, [t2["id"]])
    outsider = await box(other, [])
    enforcement = f"/api/v1/subscribers/{sub['id']}/enforcement"
    try:
        for b in (gw1, gw2, outsider):
            await b.sync()
        assert gw1.holds(sub["id"]) == {
            "mac": sub["cpe_mac"],
            "enabled": True,
            "reason": None,
            "download_kbps": 8000,
            "upload_kbps": 1000,
        }
        assert gw2.holds(sub["id"]) is None
        assert ok(await tc.get(enforcement))["enforced"] is True

        ok(await tc.patch(f"/api/v1/subscribers/{sub['id']}", json={"site_id": t2["id"]}))
        before_ack = ok(await tc.get(enforcement))
        assert before_ack["enforced"] is False
        view = by_gateway(before_ack)
        assert (view[gw1.id]["action"], view[gw1.id]["holds"]) == ("forget", True)
        assert view[gw1.id]["enforced"] is False
        assert (view[gw2.id]["action"], view[gw2.id]["enforced"]) == ("enforce", False)

        moved1 = await gw1.sync()
        assert moved1["full"] is False
        # The old site's gateway is told to forget it, without learning anything else.
        assert moved1["subscribers"] == [
            {
                "id": sub["id"],
                "mac": None,
                "enabled": False,
                "reason": None,
                "download_kbps": 0,
                "upload_kbps": 0,
            }
        ]
        moved2 = await gw2.sync()
        assert moved2["full"] is False
        assert [e["id"] for e in moved2["subscribers"]] == [sub["id"]]
        assert gw1.holds(sub["id"]) is None
        assert gw2.holds(sub["id"]) == {
            "mac": sub["cpe_mac"],
            "enabled": True,
            "reason": None,
            "download_kbps": 8000,
            "upload_kbps": 1000,
        }
        after = ok(await tc.get(enforcement))
        assert after["enforced"] is True
        view = by_gateway(after)
        assert view[gw1.id] == {
            "gateway_id": gw1.id,
            "name": gw1.gateway["name"],
            "applied_version": gw1.version,
            "enforced": True,
            "error": None,
            "action": "forget",
            "holds": False,
        }
        assert (view[gw2.id]["action"], view[gw2.id]["enforced"], view[gw2.id]["holds"]) == (
            "enforce",
            True,
            True,
        )

        # A later suspension reaches the gateway that now serves it, and only that one.
        ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/suspend", json={"reason": "admin"}))
        assert ok(await tc.get(enforcement))["enforced"] is False
        assert (await gw1.sync())["subscribers"] == []
        await gw2.sync()
        assert gw2.holds(sub["id"]) == {
            "mac": sub["cpe_mac"],
            "enabled": False,
            "reason": "admin",
            "download_kbps": 8000,
            "upload_kbps": 1000,
        }
        assert gw1.holds(sub["id"]) is None
        assert ok(await tc.get(enforcement))["enforced"] is True
        # The other tenant's gateway heard nothing of it.
        assert (await outsider.sync())["subscribers"] == []
        assert sub["id"] not in outsider.held
    finally:
        for b in (gw1, gw2, outsider):
            await b.client.aclose()


async def test_an_access_point_moved_to_another_site_takes_its_subscribers(
    make_tenant: Any,
) -> None:
    tc = await make_tenant()
    t1, t2 = await make_site(tc), await make_site(tc)
    ap = ok(
        await tc.post(
            "/api/v1/access-points",
            json={"site_id": t1["id"], "name": "Sector A", "frequency_mhz": 5800},
        ),
        201,
    )
    plan = await make_plan(tc)
    sub = await make_subscriber(tc, plan["id"])
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    ok(await tc.post(f"{wo}/schedule", json={"install_date": "2030-01-15"}))
    ok(await tc.post(f"{wo}/start"))
    body = {"cpe_mac": "02:aa:bb:cc:dd:01", "access_point_id": ap["id"]}
    ok(await tc.post(f"{wo}/authenticate-cpe", json=body))
    ok(await tc.post(f"{wo}/activate"))
    gw1, gw2 = await box(tc, [t1["id"]]), await box(tc, [t2["id"]])
    try:
        await gw1.sync()
        await gw2.sync()
        assert (gw1.holds(sub["id"]) or {}).get("enabled") is True
        assert gw2.holds(sub["id"]) is None
        ok(await tc.patch(f"/api/v1/access-points/{ap['id']}", json={"site_id": t2["id"]}))
        await gw1.sync()
        await gw2.sync()
        assert gw1.holds(sub["id"]) is None
        assert (gw2.holds(sub["id"]) or {}).get("mac") == "02:aa:bb:cc:dd:01"
        out = ok(await tc.get(f"/api/v1/subscribers/{sub['id']}/enforcement"))
        assert out["enforced"] is True
        assert {g["gateway_id"]: g["action"] for g in out["gateways"]} == {
            gw1.id: "forget",
            gw2.id: "enforce",
        }
    finally:
        await gw1.client.aclose()
        await gw2.client.aclose()


async def test_a_gateways_new_sites_are_applied_before_it_counts_as_enforcing(
    make_tenant: Any,
) -> None:
    """Sites moved from one gateway to another: the new one is not enforcing until it has
    fetched and acknowledged its new state, the old one has not forgotten until it has; an
    agent that sends no epoch still gets the full state."""
    tc = await make_tenant()
    t1, t2 = await make_site(tc), await make_site(tc)
    plan = await make_plan(tc)
    sub = await active_at(tc, plan["id"], t1["id"])
    gw1, gw2 = await box(tc, [t1["id"]]), await box(tc, [t2["id"]])
    enforcement = f"/api/v1/subscribers/{sub['id']}/enforcement"
    try:
        await gw1.sync()
        await gw2.sync()
        assert ok(await tc.get(enforcement))["enforced"] is True
        ok(await tc.patch(f"/api/v1/gateways/{gw1.id}", json={"site_ids": [t2["id"]]}))
        ok(await tc.patch(f"/api/v1/gateways/{gw2.id}", json={"site_ids": [t1["id"]]}))
        view = by_gateway(ok(await tc.get(enforcement)))
        assert (view[gw1.id]["action"], view[gw1.id]["holds"]) == ("forget", True)
        assert (view[gw2.id]["action"], view[gw2.id]["enforced"]) == ("enforce", False)
        # gw2 answered before its change was acknowledged: a delta acknowledged at the new
        # version would say nothing about its new sites.
        answer = await gw2.sync(send_epoch=False)
        assert answer["full"] is True
        assert (gw2.holds(sub["id"]) or {}).get("enabled") is True
        view = by_gateway(ok(await tc.get(enforcement)))
        assert view[gw2.id]["enforced"] is True
        assert view[gw1.id]["enforced"] is False
        answer = await gw1.sync()
        assert answer["full"] is True
        assert gw1.holds(sub["id"]) is None
        out = ok(await tc.get(enforcement))
        assert out["enforced"] is True
        # It let the subscriber go, and never served the site the subscriber was held at
        # from its new sites: nothing left to say about it.
        assert list(by_gateway(out)) == [gw2.id]
        # Gateway staff view: the site change is a version of its own, acknowledged.
        staff = ok(await tc.get(f"/api/v1/gateways/{gw1.id}"))
        assert staff["applied_version"] == staff["desired_version"] == gw1.version
    finally:
        await gw1.client.aclose()
        await gw2.client.aclose()


async def test_a_cancelled_subscriber_moved_records_nothing_and_stays_forgotten(
    make_tenant: Any,
) -> None:
    tc = await make_tenant()
    t1, t2 = await make_site(tc), await make_site(tc)
    plan = await make_plan(tc)
    sub = await active_at(tc, plan["id"], t1["id"])
    gw1 = await box(tc, [t1["id"]])
    try:
        await gw1.sync()
        ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/cancel"))
        await gw1.sync()
        assert gw1.holds(sub["id"]) is None
        version = gw1.version
        ok(await tc.patch(f"/api/v1/subscribers/{sub['id']}", json={"site_id": t2["id"]}))
        assert (await gw1.sync())["version"] == version
        out = ok(await tc.get(f"/api/v1/subscribers/{sub['id']}/enforcement"))
        assert out["enforced"] is True
        assert [(g["action"], g["holds"]) for g in out["gateways"]] == [("forget", False)]
    finally:
        await gw1.client.aclose()
