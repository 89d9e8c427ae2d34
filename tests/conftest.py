"""Fixtures on real parts: PostgreSQL, Redis, a Dramatiq worker process, an SMTP server.

Each pytest process (xdist worker) gets its own SMTP server and job-queue namespace; every test
signs up tenants of its own (always at least two), so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SMTP_PORT = _free_port()
os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/wisp_test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["SMTP_HOST"] = "127.0.0.1"
os.environ["SMTP_PORT"] = str(SMTP_PORT)
os.environ["WISP_QUEUE_NAMESPACE"] = f"wisp-test-{WORKER}-{secrets.token_hex(3)}"
os.environ["BASE_DOMAIN"] = "localhost"
os.environ["PORT"] = "8000"
os.environ.pop("WISP_DEV_MAIL_DIR", None)
os.environ.setdefault("WISP_ALLOW_FUTURE_BILLING", "1")

import httpx  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

PASSWORD = "correct horse battery staple"


# Mail -----------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    async def wait_for(
        self, address: str, timeout: float = 20.0, subject: str = ""
    ) -> EmailMessage:
        """The newest mail to `address` (whose subject contains `subject`, when given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.to(address) if subject.lower() in str(m["Subject"]).lower()]
            if found:
                return found[-1]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no mail to {address} within {timeout}s")


@pytest.fixture(scope="session")
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    yield handler
    controller.stop()


# Worker -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def worker(inbox: Inbox) -> Iterator[subprocess.Popen[bytes]]:
    """A real Dramatiq worker process on this test process's own queue namespace."""
    log = ROOT / ".data" / f"worker-{WORKER}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dramatiq",
                "workers.tasks",
                "tests.support.actors",
                "--processes",
                "1",
                "--threads",
                "2",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group, so teardown reaches Dramatiq's forked workers and their
            # PDF render processes too, and nothing outlives the test run.
            start_new_session=True,
        )
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError(log.read_text())
    yield proc
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


# App and tenants ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def app() -> AsyncIterator[Any]:
    from app.core.db import close_pool, open_pool
    from app.core.redis import close_redis
    from app.web.app import create_app

    application = create_app()
    await open_pool()  # what the app's startup hook does, on the tests' own event loop
    yield application
    await close_pool()
    await close_redis()


def http(app: Any, host: str = "localhost") -> httpx.AsyncClient:
    """A client for one host, sharing the session's app (and its pool) without a lifespan.

    On the base host each client comes from an address of its own: signups are throttled per
    client address, and the suite signs up hundreds of tenants (tests/test_signup_abuse.py
    pins the throttle with addresses it chooses).
    """
    address = _fresh_address() if host == "localhost" else "127.0.0.1"
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 5000)),
        base_url=f"http://{host}",
    )


def _fresh_address() -> str:
    return "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{WORKER}-{secrets.token_hex(4)}"


@dataclass
class TenantClient:
    """A signed-up tenant with a client on its own host, signed in as its manager."""

    slug: str
    email: str
    client: httpx.AsyncClient
    host: str
    extra: dict[str, Any] = field(default_factory=dict)

    def csrf(self) -> dict[str, str]:
        token = self.client.cookies.get("csrftoken")
        return {"X-CSRFToken": token or ""}

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.client.get(path, **kw)

    async def post(self, path: str, **kw: Any) -> Any:
        headers = {**self.csrf(), **kw.pop("headers", {})}
        return await self.client.post(path, headers=headers, **kw)

    async def patch(self, path: str, **kw: Any) -> Any:
        headers = {**self.csrf(), **kw.pop("headers", {})}
        return await self.client.patch(path, headers=headers, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        headers = {**self.csrf(), **kw.pop("headers", {})}
        return await self.client.delete(path, headers=headers, **kw)


async def confirm_owner(slug: str) -> None:
    """What following the welcome mail's `/confirm/{token}` link does: the owner's address is
    confirmed, so the tenant may mail staff and subscribers and enroll gateways. The tests of
    the link itself are in tests/test_signup_abuse.py."""
    import datetime as dt

    from tenants.registry import OwnerConfirmation, tenant_by_slug

    tenant = await tenant_by_slug(slug)
    assert tenant is not None
    await OwnerConfirmation.update({OwnerConfirmation.confirmed_at: dt.datetime.now(dt.UTC)}).where(
        OwnerConfirmation.tenant == tenant.id
    )


async def sign_up(
    app: Any,
    slug: str | None = None,
    language: str = "en",
    email: str | None = None,
    confirmed: bool = True,
) -> tuple[str, str]:
    slug = slug or unique_slug()
    email = email or f"owner@{slug}.example.com"
    async with http(app) as base:
        response = await base.post(
            "/api/v1/signup",
            json={
                "company_name": f"WISP {slug}",
                "slug": slug,
                "email": email,
                "password": PASSWORD,
                "language": language,
            },
        )
    assert response.status_code == 201, response.text
    if confirmed:
        await confirm_owner(slug)
    return slug, email


async def tenant_client(
    app: Any, slug: str, email: str, password: str = PASSWORD, login: bool = True
) -> TenantClient:
    host = f"{slug}.localhost"
    client = http(app, host)
    tc = TenantClient(slug=slug, email=email, client=client, host=host)
    await client.get("/api/v1/auth/me")  # any GET (outside the CSRF-exempt paths) sets it
    if login:
        r = await tc.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
    return tc


@pytest.fixture
async def make_tenant(app: Any) -> AsyncIterator[Callable[..., Any]]:
    made: list[TenantClient] = []

    async def make(language: str = "en", confirmed: bool = True) -> TenantClient:
        slug, email = await sign_up(app, language=language, confirmed=confirmed)
        tc = await tenant_client(app, slug, email)
        made.append(tc)
        return tc

    yield make
    for tc in made:
        await tc.client.aclose()


@pytest.fixture
async def two_tenants(make_tenant: Callable[..., Any]) -> tuple[TenantClient, TenantClient]:
    return await make_tenant(), await make_tenant()


def require_tool(command: str, package: str) -> None:
    """Skip (with the reason) where a system tool is missing; under CI it must be there."""
    import shutil

    if shutil.which(command) is None:
        message = f"`{command}` is not installed (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def require_weasyprint() -> None:
    """PDF tests need Pango and HarfBuzz's subsetter (Debian packages that `.ci/run` installs):
    skipped with the reason on a machine without them, a failure under CI."""
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        message = (
            "WeasyPrint cannot load its system libraries (apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core): {exc}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
