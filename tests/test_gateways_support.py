"""Helpers for the gateway tests (no tests here): gateways, enrollment, gateway clients."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.conftest import TenantClient, http
from tests.support.provisioning import ok


def app_of(tc: TenantClient) -> Any:
    return tc.client._transport.app  # type: ignore[attr-defined]


async def new_gateway(tc: TenantClient, **fields: Any) -> dict[str, Any]:
    body = {"name": f"GW {secrets.token_hex(3)}", **fields}
    return ok(await tc.post("/api/v1/gateways", json=body), 201)  # type: ignore[no-any-return]


async def enroll(app: Any, token: str, host: str = "localhost", **extra: Any) -> httpx.Response:
    async with http(app, host) as c:
        return await c.post(
            "/gateway/v1/enroll",
            json={"token": token, "hardware_id": "hw-1", "agent_version": "test", **extra},
        )


def gateway_client(app: Any, secret: str, host: str = "localhost") -> httpx.AsyncClient:
    client = http(app, host)
    client.headers["Authorization"] = f"Bearer {secret}"
    return client


async def enrolled(tc: TenantClient, **fields: Any) -> tuple[dict[str, Any], str]:
    """A gateway of this tenant, enrolled: (its staff view, its secret)."""
    gateway = await new_gateway(tc, **fields)
    r = await enroll(app_of(tc), gateway["enrollment_token"])
    assert r.status_code == 200, r.text
    return gateway, r.json()["secret"]


async def tenant_ref(tc: TenantClient) -> Any:
    from tenants.registry import tenant_by_slug

    tenant = await tenant_by_slug(tc.slug)
    assert tenant is not None
    return tenant


async def make_site(tc: TenantClient) -> dict[str, Any]:
    return ok(  # type: ignore[no-any-return]
        await tc.post("/api/v1/sites", json={"name": f"Tower {secrets.token_hex(3)}"}), 201
    )


def entries_by_id(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in state["subscribers"]}
