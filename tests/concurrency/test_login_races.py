"""The same staff user signing in from many devices at once, on two tenants."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.concurrency.support import at_once
from tests.conftest import PASSWORD, TenantClient, tenant_client
from tests.support.provisioning import staff
from tests.test_gateways_support import app_of


async def test_same_users_sign_in_from_sixteen_devices_at_once(make_tenant: Any) -> None:
    """Issue 12, defect 2: each sign-in read the user's row FOR SHARE and then updated it (a
    lock upgrade), so two at once deadlocked and one answered 500. Per tenant the owner signs
    in from five devices and a second user from three: within the free attempts the throttle
    counts ahead of the password check, so every one of them must succeed."""
    devices: list[TenantClient] = []
    for _ in range(2):
        owner = await make_tenant()
        second, _id = await staff(owner, "finance")
        await second.client.aclose()
        for who, count in ((owner, 5), (second, 3)):
            for _ in range(count):
                devices.append(
                    await tenant_client(app_of(owner), owner.slug, who.email, login=False)
                )
    try:
        body = {"password": PASSWORD}
        responses = await at_once(
            d.post("/api/v1/auth/login", json={**body, "email": d.email}) for d in devices
        )
        assert [r.status_code for r in responses] == [200] * 16
        me = await asyncio.gather(*(d.get("/api/v1/auth/me") for d in devices))
        assert [r.json()["email"] for r in me] == [d.email for d in devices]
    finally:
        await asyncio.gather(*(d.client.aclose() for d in devices))
