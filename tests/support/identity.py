"""Helpers for identity tests: staff in each role, sessions without a password round, mails."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from email.message import EmailMessage
from typing import Any

import httpx

from tests.conftest import PASSWORD, TenantClient, tenant_client

ROLES = ("manager", "sales", "customer_service", "finance", "technical")


async def tenant_of(tc: TenantClient) -> Any:
    from tenants.registry import tenant_by_slug

    tenant = await tenant_by_slug(tc.slug)
    assert tenant is not None
    return tenant


async def add_user(tc: TenantClient, role: str, email: str | None = None) -> tuple[str, str]:
    """A staff user with the test password, added directly; returns (id, email)."""
    from app.identity.actions import add_staff
    from tenants.scope import tenant_scope

    email = email or f"{role}-{secrets.token_hex(3)}@{tc.slug}.example.com"
    async with tenant_scope(await tenant_of(tc)):
        user_id = await add_staff(email, f"{role.title()} Person", role, PASSWORD)
    return str(user_id), email


async def signed_in(app: Any, tc: TenantClient, role: str) -> tuple[TenantClient, str]:
    """A new user of this role, signed in through the API; returns (client, user id)."""
    user_id, email = await add_user(tc, role)
    return await tenant_client(app, tc.slug, email), user_id


async def anonymous(app: Any, tc: TenantClient) -> TenantClient:
    return await tenant_client(app, tc.slug, tc.email, login=False)


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_token(message: EmailMessage, kind: str) -> str:
    """The token of the `/{kind}/{token}` link in a mail."""
    found = re.search(rf"/{kind}/([A-Za-z0-9_-]+)", body_text(message))
    assert found, body_text(message)
    return found.group(1)


def mails_with(inbox: Any, address: str, kind: str) -> list[EmailMessage]:
    return [m for m in inbox.to(address) if f"/{kind}/" in body_text(m)]


async def wait_for_link(inbox: Any, address: str, kind: str, timeout: float = 20.0) -> str:
    """The token of the newest `/{kind}/{token}` link mailed to this address (other mails,
    such as the welcome mail, are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails_with(inbox, address, kind)
        if found:
            return link_token(found[-1], kind)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no /{kind}/ link mailed to {address} within {timeout}s")


async def audit_actions(tc: TenantClient, **params: Any) -> list[dict[str, Any]]:
    r = await tc.get("/api/v1/audit-log", params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def client_from(app: Any, host: str, address: str) -> httpx.AsyncClient:
    """A client whose requests come from another address (per-address throttling)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 5000)), base_url=f"http://{host}"
    )


async def csrf_ready(client: httpx.AsyncClient) -> dict[str, str]:
    await client.get("/api/v1/auth/me")
    return {"X-CSRFToken": client.cookies.get("csrftoken") or ""}
