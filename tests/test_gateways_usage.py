"""Defect 9 of issue 12: per-subscriber usage (which feeds data caps) is believed only for the
subscribers a gateway serves, and only up to what a 10 Gb/s line carries in the interval. The
rest of the batch is taken; each refused amount is listed in the answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.support.provisioning import active_subscriber, make_plan, ok
from tests.test_gateways_ops import sample
from tests.test_gateways_support import app_of, enrolled, gateway_client, make_site, tenant_ref

GB = 10**9


async def usage_of(tc: Any) -> dict[str, tuple[int, int]]:
    """Bytes counted per subscriber: (rx, tx)."""
    from tenants.scope import tenant_scope

    async with tenant_scope(await tenant_ref(tc)) as scope:
        rows = await scope.connection.fetch(
            "SELECT subscriber, sum(rx_bytes) AS rx, sum(tx_bytes) AS tx FROM subscriber_usage"
            " GROUP BY subscriber"
        )
    return {str(r["subscriber"]): (int(r["rx"]), int(r["tx"])) for r in rows}


async def on_site(tc: Any, plan_id: str, site_id: str) -> dict[str, Any]:
    sub = await active_subscriber(tc, plan_id)
    ok(await tc.patch(f"/api/v1/subscribers/{sub['id']}", json={"site_id": site_id}))
    return sub


async def test_defect_9_a_gateway_cannot_post_usage_for_subscribers_it_does_not_serve(
    two_tenants: Any,
) -> None:
    a, b = two_tenants
    plan = await make_plan(a)
    t1, t2 = await make_site(a), await make_site(a)
    mine, theirs = await on_site(a, plan["id"], t1["id"]), await on_site(a, plan["id"], t2["id"])
    _gw1, secret1 = await enrolled(a, site_ids=[t1["id"]])
    await enrolled(a, site_ids=[t2["id"]])
    b_sub = await active_subscriber(b)
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    async with gateway_client(app_of(a), secret1) as c:
        body = {
            "samples": [
                sample(1, 0, 0, t0),
                sample(
                    2,
                    1000,
                    1000,
                    t0 + dt.timedelta(seconds=60),
                    subscribers=[
                        {"id": mine["id"], "rx_bytes": 5 * GB, "tx_bytes": GB},
                        {"id": theirs["id"], "rx_bytes": 900 * GB, "tx_bytes": 0},
                        {"mac": theirs["cpe_mac"], "rx_bytes": 7, "tx_bytes": 7},
                        {"id": b_sub["id"], "rx_bytes": 900 * GB, "tx_bytes": 0},
                    ],
                ),
            ]
        }
        r = ok(await c.post("/gateway/v1/telemetry", json=body))
    # The samples are taken; the two amounts for GW2's subscriber are not, and say why.
    assert (r["accepted"], r["last_seq"], r["usage_rejected"]) == (2, 2, 2)
    assert [(x["seq"], x["id"], x["mac"], x["reason"]) for x in r["rejections"]] == [
        (2, theirs["id"], None, "not_served"),
        (2, None, theirs["cpe_mac"], "not_served"),
    ]
    assert r["rejections"][0]["message"]
    assert await usage_of(a) == {mine["id"]: (5 * GB, GB)}
    # Another tenant's subscriber is nobody here: ignored, as it always was, and B counts nothing.
    assert await usage_of(b) == {}


async def test_defect_9_usage_beyond_a_plausible_line_rate_is_refused(two_tenants: Any) -> None:
    a, b = two_tenants
    sub = await active_subscriber(a)
    _gw, secret = await enrolled(a)  # no sites: serves every subscriber
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    ten_s = 10 * 10 * GB // 8  # what 10 Gb/s carries in 10 s

    def at(seconds: int, seq: int, rx: int, tx: int = 0) -> dict[str, Any]:
        usage = [{"id": sub["id"], "rx_bytes": rx, "tx_bytes": tx}]
        return sample(seq, seq, seq, t0 + dt.timedelta(seconds=seconds), subscribers=usage)

    async with gateway_client(app_of(a), secret) as c:
        first = ok(await c.post("/gateway/v1/telemetry", json={"samples": [at(0, 1, 100)]}))
        assert "usage_rejected" not in first  # the answer is as before when all is counted
        body = {
            "samples": [
                at(10, 2, ten_s),  # at the bound: counted
                at(20, 3, ten_s + 1),  # beyond it: refused
                at(30, 4, 0, 900 * GB),  # 900 GB up in 10 s: refused
                # Split over several items of one sample, the total still counts.
                {
                    **at(40, 5, ten_s),
                    "subscribers": [{"id": sub["id"], "rx_bytes": ten_s, "tx_bytes": 0}] * 2,
                },
                at(3640, 6, 900 * GB),  # 900 GB in an hour (2 Gb/s): plausible
            ]
        }
        r = ok(await c.post("/gateway/v1/telemetry", json=body))
    assert (r["accepted"], r["usage_rejected"]) == (5, 4)
    assert [(x["seq"], x["reason"]) for x in r["rejections"]] == [
        (3, "implausible"),
        (4, "implausible"),
        (5, "implausible"),
        (5, "implausible"),
    ]
    assert await usage_of(a) == {sub["id"]: (100 + ten_s + 900 * GB, 0)}
    assert await usage_of(b) == {}


async def test_defect_9_a_gateways_first_usage_counts_from_its_enrollment(make_tenant: Any) -> None:
    tc = await make_tenant()
    sub = await active_subscriber(tc)
    _gw, secret = await enrolled(tc)
    now = dt.datetime.now(dt.UTC)
    usage = [{"id": sub["id"], "rx_bytes": 900 * GB, "tx_bytes": 0}]
    async with gateway_client(app_of(tc), secret) as c:
        # Enrolled moments ago: 900 GB cannot have passed since.
        r = ok(
            await c.post(
                "/gateway/v1/telemetry", json={"samples": [sample(1, 1, 1, now, subscribers=usage)]}
            )
        )
    assert (r["accepted"], r["usage_rejected"]) == (1, 1)
    assert await usage_of(tc) == {}
