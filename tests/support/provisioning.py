"""Helpers for the provisioning tests: staff of each role, plans, subscribers, installs."""

from __future__ import annotations

import secrets
from typing import Any

from tests.conftest import PASSWORD, TenantClient, tenant_client

ROLES = ("manager", "sales", "customer_service", "finance", "technical")


async def tenant_ref(tc: TenantClient) -> Any:
    from tenants.registry import tenant_by_slug

    tenant = await tenant_by_slug(tc.slug)
    assert tenant is not None
    return tenant


async def staff(tc: TenantClient, role: str, active: bool = True) -> tuple[TenantClient, str]:
    """A signed-in client for a new staff user of `role` on the tenant of `tc`, and its id."""
    from app.identity.actions import add_staff
    from app.identity.tables import StaffUser
    from tenants.scope import tenant_scope

    tenant = await tenant_ref(tc)
    email = f"{role}-{secrets.token_hex(3)}@{tc.slug}.example.com"
    async with tenant_scope(tenant):
        user_id = await add_staff(email, f"{role.title()} Person", role, PASSWORD)
    app = tc.client._transport.app  # type: ignore[attr-defined]
    client = await tenant_client(app, tc.slug, email)
    if not active:
        async with tenant_scope(tenant):
            await StaffUser.update({StaffUser.is_active: False}).where(StaffUser.id == user_id)
    return client, str(user_id)


async def team(tc: TenantClient) -> dict[str, TenantClient]:
    """One signed-in client per role; the manager is the tenant's owner."""
    out = {"manager": tc}
    for role in ROLES[1:]:
        out[role], _ = await staff(tc, role)
    return out


async def close(clients: dict[str, TenantClient]) -> None:
    for role, client in clients.items():
        if role != "manager":
            await client.client.aclose()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def make_plan(tc: TenantClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": f"Plan {secrets.token_hex(3)}",
        "download_kbps": 5000,
        "upload_kbps": 500,
        "monthly_price": "15.00",
        **fields,
    }
    return ok(await tc.post("/api/v1/rate-plans", json=body), 201)  # type: ignore[no-any-return]


async def make_subscriber(tc: TenantClient, plan_id: str, **fields: Any) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    body = {
        "name": f"Subscriber {tag}",
        "email": f"sub-{tag}@example.com",
        "phone": "+52 55 1234 5678",
        "address": "Calle 1, Pueblo",
        "plan_id": plan_id,
        **fields,
    }
    return ok(await tc.post("/api/v1/subscribers", json=body), 201)  # type: ignore[no-any-return]


def new_mac() -> str:
    """A random unicast, locally administered MAC."""
    first = (secrets.randbelow(64) << 2) | 0x02
    rest = [secrets.randbelow(256) for _ in range(5)]
    return ":".join(f"{b:02x}" for b in [first, *rest])


async def install(tech: TenantClient, work_order_id: str, mac: str | None = None) -> dict[str, Any]:
    """Schedule, start, authenticate a CPE and activate: the work order as it ends."""
    wo = f"/api/v1/work-orders/{work_order_id}"
    ok(await tech.post(f"{wo}/schedule", json={"install_date": "2030-01-15"}))
    ok(await tech.post(f"{wo}/start"))
    ok(await tech.post(f"{wo}/authenticate-cpe", json={"cpe_mac": mac or new_mac()}))
    return ok(await tech.post(f"{wo}/activate"))  # type: ignore[no-any-return]


async def active_subscriber(
    manager: TenantClient, plan_id: str | None = None, mac: str | None = None
) -> dict[str, Any]:
    """A subscriber installed and active (the manager may do every step)."""
    if plan_id is None:
        plan_id = (await make_plan(manager))["id"]
    sub = await make_subscriber(manager, plan_id)
    await install(manager, sub["installation_work_order_id"], mac)
    return ok(await manager.get(f"/api/v1/subscribers/{sub['id']}"))  # type: ignore[no-any-return]


async def audit_actions(tc: TenantClient, object_id: str | None = None) -> list[str]:
    from app.core.audit import AuditEvent
    from tenants.scope import tenant_scope

    tenant = await tenant_ref(tc)
    async with tenant_scope(tenant):
        query = AuditEvent.select(AuditEvent.action).order_by(AuditEvent.occurred_at)
        if object_id is not None:
            query = query.where(AuditEvent.object_id == object_id)
        return [r["action"] for r in await query]


async def intruder(a: TenantClient, b: TenantClient) -> TenantClient:
    """A client on B's host carrying A's session cookie (and B's own CSRF cookie)."""
    from tests.conftest import http

    app = b.client._transport.app  # type: ignore[attr-defined]
    client = http(app, b.host)
    await client.get("/api/v1/rate-plans")  # sets B's csrftoken cookie
    client.cookies.set("wisp_session", a.client.cookies.get("wisp_session") or "")
    return TenantClient(slug=b.slug, email=a.email, client=client, host=b.host)


async def assert_unreachable(
    a: TenantClient, b: TenantClient, calls: list[tuple[str, str, Any]]
) -> None:
    """B's manager with A's ids gets 404 (or 422 naming an id in the body); A's session on B's
    host gets 401. `calls` are (method, path with A's ids, JSON body or None)."""
    stranger = await intruder(a, b)
    for method, path, body in calls:
        for who, allowed in ((b, {404, 422}), (stranger, {401})):
            kwargs = {"json": body} if body is not None else {}
            r = await getattr(who, method.lower())(path, **kwargs)
            assert r.status_code in allowed, (method, path, who is stranger, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    await stranger.client.aclose()
