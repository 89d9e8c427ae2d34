"""Property: whatever staff do (moves, access points moved, suspensions, resumptions, plan and
speed changes, CPE replacements, cancellations, gateways' sites changed), gateways that replay
their state answers hold exactly the desired state, and `enforcement` says what they hold."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TenantClient
from tests.support.provisioning import install, make_plan, make_subscriber, new_mac, ok
from tests.test_gateways_moves import Box, box
from tests.test_gateways_support import make_site

SITES, SUBSCRIBERS, ACCESS_POINTS, PLANS = 3, 3, 2, 2
GATEWAY_SITES = ([0], [1], [1, 2])
"""Each example starts with three gateways: one per site, and two sharing a site."""

sub = st.integers(0, SUBSCRIBERS - 1)
site = st.integers(0, SITES - 1)
gateway = st.integers(0, len(GATEWAY_SITES) - 1)
OP = st.one_of(
    st.tuples(st.just("move"), sub, site),
    st.tuples(st.just("move"), sub, site),
    st.tuples(st.just("suspend"), sub, st.sampled_from(["admin", "non_payment"])),
    st.tuples(st.just("resume"), sub),
    st.tuples(st.just("plan"), sub, st.integers(0, PLANS - 1)),
    st.tuples(st.just("speed"), st.integers(0, PLANS - 1), st.sampled_from([2000, 7000])),
    st.tuples(st.just("cpe"), sub, st.one_of(st.none(), st.integers(0, ACCESS_POINTS - 1))),
    st.tuples(st.just("ap"), st.integers(0, ACCESS_POINTS - 1), site),
    # No sites at all: the gateway serves every site.
    st.tuples(st.just("sites"), gateway, st.lists(site, unique=True, max_size=2)),
    st.tuples(st.just("poll"), gateway, st.booleans()),
    st.tuples(st.just("poll"), gateway, st.just(True)),
    st.tuples(st.just("cancel"), sub),
)

_shared: dict[str, Any] = {}


class World:
    def __init__(self, tc: TenantClient) -> None:
        self.tc = tc
        self.sites: list[str] = []
        self.aps: list[str] = []
        self.plans: list[str] = []
        self.subs: list[str] = []
        self.boxes: list[Box] = []
        self.serves: list[list[str]] = []

    async def build(self, starts: list[int]) -> None:
        tc = self.tc
        self.sites = [(await make_site(tc))["id"] for _ in range(SITES)]
        for i in range(ACCESS_POINTS):
            body = {"site_id": self.sites[i], "name": f"AP {i}", "frequency_mhz": 5800}
            self.aps.append(ok(await tc.post("/api/v1/access-points", json=body), 201)["id"])
        self.plans = [(await make_plan(tc, download_kbps=5000 + i))["id"] for i in range(PLANS)]
        for i, at in enumerate(starts):
            created = await make_subscriber(tc, self.plans[i % PLANS], site_id=self.sites[at])
            await install(tc, created["installation_work_order_id"])
            self.subs.append(created["id"])
        for indexes in GATEWAY_SITES:
            self.serves.append([self.sites[i] for i in indexes])
            self.boxes.append(await box(tc, self.serves[-1]))

    async def apply(self, op: tuple[Any, ...]) -> None:
        tc, kind = self.tc, op[0]
        path = f"/api/v1/subscribers/{self.subs[op[1]]}" if kind in SUBSCRIBER_OPS else ""
        if kind == "move":
            r = await tc.patch(path, json={"site_id": self.sites[op[2]]})
        elif kind == "suspend":
            r = await tc.post(f"{path}/suspend", json={"reason": op[2]})
        elif kind in ("resume", "cancel"):
            r = await tc.post(f"{path}/{kind}")
        elif kind == "plan":
            r = await tc.post(f"{path}/plan-changes", json={"plan_id": self.plans[op[2]]})
        elif kind == "speed":
            r = await tc.patch(
                f"/api/v1/rate-plans/{self.plans[op[1]]}", json={"upload_kbps": op[2]}
            )
        elif kind == "cpe":
            r = await self.replace_cpe(self.subs[op[1]], op[2])
        elif kind == "ap":
            body = {"site_id": self.sites[op[2]]}
            r = await tc.patch(f"/api/v1/access-points/{self.aps[op[1]]}", json=body)
        elif kind == "sites":
            self.serves[op[1]] = [self.sites[i] for i in op[2]]
            body = {"site_ids": self.serves[op[1]]}
            r = await tc.patch(f"/api/v1/gateways/{self.boxes[op[1]].id}", json=body)
        else:
            await self.boxes[op[1]].sync(send_epoch=op[2])
            return
        # Refusals (resume an active subscriber, the plan it already has...) are fine.
        assert r.status_code in (200, 201, 409, 422), (op, r.status_code, r.text)
        assert r.status_code < 400 or kind in REFUSABLE, (op, r.text)

    async def replace_cpe(self, subscriber_id: str, ap: int | None) -> Any:
        """A repair visit that puts in a new CPE (on an access point: at its site)."""
        tc = self.tc
        body = {"subscriber_id": subscriber_id, "kind": "repair"}
        r = await tc.post("/api/v1/work-orders", json=body)
        if r.status_code != 201:
            return r  # a cancelled subscriber
        wo = f"/api/v1/work-orders/{r.json()['id']}"
        ok(await tc.post(f"{wo}/schedule", json={"install_date": "2030-02-01"}))
        ok(await tc.post(f"{wo}/start"))
        cpe: dict[str, Any] = {"cpe_mac": new_mac()}
        if ap is not None:
            cpe["access_point_id"] = self.aps[ap]
        ok(await tc.post(f"{wo}/authenticate-cpe", json=cpe))
        return await tc.post(f"{wo}/sign-off", json={"signed_by": "Ana"})

    async def desired(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """What the network must hold, per subscriber: (its site, its entry)."""
        plans = {p: ok(await self.tc.get(f"/api/v1/rate-plans/{p}")) for p in self.plans}
        out = {}
        for sid in self.subs:
            s = ok(await self.tc.get(f"/api/v1/subscribers/{sid}"))
            if s["status"] not in ("active", "suspended"):
                continue
            plan = plans[s["plan_id"]]
            out[sid] = (
                s["site_id"],
                {
                    "mac": s["cpe_mac"],
                    "enabled": s["status"] == "active",
                    "reason": s["suspension_reason"],
                    "download_kbps": plan["download_kbps"],
                    "upload_kbps": plan["upload_kbps"],
                },
            )
        return out

    async def check_enforcement_says_what_gateways_hold(self) -> None:
        for sid in self.subs:
            out = ok(await self.tc.get(f"/api/v1/subscribers/{sid}/enforcement"))
            listed = {g["gateway_id"]: g for g in out["gateways"]}
            for b in self.boxes:
                holds = b.holds(sid) is not None
                if b.id in listed:
                    assert listed[b.id]["holds"] is holds, (sid, b.id, out)
                else:
                    assert not holds, (sid, b.id, out)

    async def close(self) -> None:
        for b in self.boxes:
            await b.client.aclose()
            # Out of the way of later examples (a gateway with no sites serves everyone).
            ok(await self.tc.post(f"/api/v1/gateways/{b.id}/revoke"))


SUBSCRIBER_OPS = ("move", "suspend", "resume", "cancel", "plan")
REFUSABLE = ("suspend", "resume", "cancel", "plan", "cpe")


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    starts=st.lists(site, min_size=SUBSCRIBERS, max_size=SUBSCRIBERS),
    ops=st.lists(OP, max_size=12),
)
async def test_gateways_together_hold_exactly_the_desired_state(
    make_tenant: Any, starts: list[int], ops: list[tuple[Any, ...]]
) -> None:
    # One tenant for all examples of this test (the fixture is shared by them); each example
    # builds its own sites, access points, plans, subscribers and gateways.
    if _shared.get("fixture") is not make_tenant:
        _shared.update(fixture=make_tenant, tc=await make_tenant())
    world = World(_shared["tc"])
    await world.build(starts)
    try:
        for b in world.boxes:
            await b.sync()
        for op in ops:
            await world.apply(op)
            await world.check_enforcement_says_what_gateways_hold()
        for b in world.boxes:
            await b.sync()
        desired = await world.desired()
        mine = set(world.subs)
        union: dict[str, dict[str, Any]] = {}
        for b, sites in zip(world.boxes, world.serves, strict=True):
            held = {sid: b.holds(sid) for sid in mine if b.holds(sid) is not None}
            expected = {
                sid: entry for sid, (at, entry) in desired.items() if not sites or at in sites
            }
            assert held == expected, (ops, b.id, sites)
            for sid, entry in held.items():
                assert union.setdefault(sid, entry) == entry, (ops, sid)
        served = set().union(*(set(s) for s in world.serves)) if all(world.serves) else None
        assert union == {
            sid: entry for sid, (at, entry) in desired.items() if served is None or at in served
        }, ops
        await world.check_enforcement_says_what_gateways_hold()
        for sid in world.subs:
            out = ok(await world.tc.get(f"/api/v1/subscribers/{sid}/enforcement"))
            assert all(g["enforced"] for g in out["gateways"]), (ops, out)
            if sid in union:
                assert out["enforced"] is True, (ops, out)
            elif sid in desired:
                assert out["enforced"] is False, (ops, out)  # no gateway serves its site
    finally:
        await world.close()
