"""The world the API fuzzer runs in: the app served for real, two tenants, one principal each.

`tests/test_api_fuzz.py` runs Schemathesis against a uvicorn process (the real app, the test
database, Redis) on a free 127.0.0.1 port. Everything here is made through the API, as a WISP
would: staff of every role, a plan, a site, an access point, subscribers (one installed, with a
portal session), a payment, a gateway (enrolled: its secret is a principal too), an API token.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import ROOT, TenantClient, sign_up, tenant_client
from tests.support.provisioning import active_subscriber, make_plan, make_subscriber, ok, staff

STAFF_ROLES = ("manager", "sales", "customer_service", "finance", "technical")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served_app() -> Iterator[str]:
    """uvicorn serving `app.asgi:app` on a free port; yields its base URL."""
    port = _free_port()
    log = ROOT / ".data" / f"fuzz-server-{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "app.asgi:app", "--host", "127.0.0.1"),
                *("--port", str(port), "--no-access-log", "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class World:
    host: str
    """The tenant host the fuzzer talks to ({slug}.localhost)."""
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per principal, the headers that make a request theirs."""
    ids: dict[str, list[str]] = field(default_factory=dict)
    """Real ids of this tenant, by the parameter or field name that takes them."""
    other_ids: set[str] = field(default_factory=set)
    """Ids of the second tenant: they must never come back from the first tenant's host."""


def session_headers(tc: TenantClient) -> dict[str, str]:
    csrf = tc.client.cookies.get("csrftoken") or ""
    cookie = f"csrftoken={csrf}"
    if session := tc.client.cookies.get("wisp_session"):
        cookie += f"; wisp_session={session}"
    return {"Host": tc.host, "Cookie": cookie, "X-CSRFToken": csrf}


async def populate(manager: TenantClient) -> dict[str, list[str]]:
    """Things of every kind in one tenant; returns their ids by parameter name."""
    plan = await make_plan(manager)
    site = ok(await manager.post("/api/v1/sites", json={"name": "Tower 1"}), 201)
    ap = ok(
        await manager.post(
            "/api/v1/access-points",
            json={"name": "AP 1", "site_id": site["id"], "frequency_mhz": 5800},
        ),
        201,
    )
    pending = await make_subscriber(manager, plan["id"], site_id=site["id"])
    active = await active_subscriber(manager, plan["id"])
    invoices = await bill(manager)
    payment = ok(
        await manager.post(
            "/api/v1/payments",
            json={"subscriber_id": active["id"], "amount": "5.00", "method": "cash"},
        ),
        201,
    )
    gateway = ok(
        await manager.post("/api/v1/gateways", json={"name": "GW", "site_ids": [site["id"]]}),
        201,
    )
    # The gateway principal's own gateway: its id is not offered to the fuzzer, so no staff
    # fuzz revokes the secret the gateway fuzz holds.
    own_gateway = ok(
        await manager.post("/api/v1/gateways", json={"name": "GW 2", "site_ids": [site["id"]]}),
        201,
    )
    orders = ok(await manager.get("/api/v1/work-orders"))["items"]
    return {
        "plan_id": [plan["id"]],
        "site_id": [site["id"]],
        "ap_id": [ap["id"]],
        "access_point_id": [ap["id"]],
        "subscriber_id": [pending["id"], active["id"]],
        "work_order_id": [o["id"] for o in orders],
        "payment_id": [payment["id"]],
        "invoice_id": invoices,
        "gateway_id": [gateway["id"]],
        "_gateway_token": [own_gateway["enrollment_token"]],
        "_active_subscriber": [active["id"]],
    }


async def bill(manager: TenantClient) -> list[str]:
    """Today's billing run, in process (no worker needed): the installed subscriber's invoice."""
    import datetime as dt

    from app.billing import engine
    from app.core.audit import Actor
    from tenants.registry import tenant_by_slug

    tenant = await tenant_by_slug(manager.slug)
    assert tenant is not None
    await engine.run(tenant, dt.datetime.now(dt.UTC).date(), Actor(type="system", label="fuzz"))
    return [i["id"] for i in ok(await manager.get("/api/v1/invoices"))["items"]]


async def build(app: Any) -> World:
    from app.identity import sessions
    from app.subscribers.portal import principal_for
    from app.subscribers.tables import Subscriber
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    slug_a, email_a = await sign_up(app)
    slug_b, email_b = await sign_up(app)
    manager = await tenant_client(app, slug_a, email_a)
    other = await tenant_client(app, slug_b, email_b)
    world = World(host=manager.host)
    world.headers["manager"] = session_headers(manager)
    for role in STAFF_ROLES[1:]:
        client, _user_id = await staff(manager, role)
        world.headers[role] = session_headers(client)
    anonymous = await tenant_client(app, slug_a, email_a, login=False)
    world.headers["anonymous"] = session_headers(anonymous)

    ids = await populate(manager)
    # A sacrificial colleague and invitation for the manager's staff routes (never the
    # principals themselves: deactivating them would end the fuzz for their role).
    _client, colleague = await staff(manager, "sales")
    ids["user_id"] = [colleague]
    invitation = ok(
        await manager.post(
            "/api/v1/staff/invitations",
            json={"email": f"new-{secrets.token_hex(3)}@example.com", "role": "sales"},
        ),
        201,
    )
    ids["invitation_id"] = [invitation["id"]]
    token = ok(
        await manager.post("/api/v1/api-tokens", json={"name": "Fuzz", "role": "manager"}), 201
    )
    world.headers["api_token"] = {"Host": manager.host, "Authorization": f"Bearer {token['token']}"}

    enrolled = await manager.client.post(
        "/gateway/v1/enroll",
        json={"token": ids.pop("_gateway_token")[0], "hardware_id": "hw-1", "agent_version": "t"},
    )
    world.headers["gateway"] = {
        "Host": manager.host,
        "Authorization": f"Bearer {ok(enrolled)['secret']}",
    }

    tenant = await tenant_by_slug(slug_a)
    assert tenant is not None
    async with tenant_scope(tenant):
        row = (
            await Subscriber.select()
            .where(Subscriber.id == ids.pop("_active_subscriber")[0])
            .first()
        )
    portal_session = await sessions.start(tenant, principal_for(row))
    portal = session_headers(anonymous)
    world.headers["subscriber"] = {
        **portal,
        "Cookie": f"{portal['Cookie']}; wisp_session={portal_session}",
    }
    world.ids = ids

    b_ids = await populate(other)
    b_ids.pop("_gateway_token")
    world.other_ids = {i for values in b_ids.values() for i in values}
    return world
