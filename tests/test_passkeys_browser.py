"""Passkeys end to end: Debian's Chromium, driven by Playwright, with the DevTools virtual
authenticator, against the real app served by uvicorn on `{slug}.localhost:{port}`.

Chromium resolves every `*.localhost` name to the loopback address and treats it as a secure
context, so each tenant host is its own WebAuthn relying party, as in production.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, ROOT, WORKER, unique_slug

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_browser() -> None:
    """Skip on a laptop without Chromium; under CI a missing browser is a failure."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test needs Chromium: {problem}")
        pytest.skip(f"the browser test needs Chromium: {problem}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """The real app in its own process, as a browser sees it; yields its port."""
    _need_browser()
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "PUBLIC_PORT": str(port)}
    log = ROOT / ".data" / f"passkeys-uvicorn-{WORKER}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "app.asgi:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{log.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not become healthy:\n{log.read_text()}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def sign_up(port: int) -> tuple[str, str]:
    slug = unique_slug("pk")
    email = f"owner@{slug}.example.com"
    # From an address of its own (uvicorn trusts X-Forwarded-For from 127.0.0.1, as behind a
    # proxy): signups are throttled per address.
    address = "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))
    async with httpx.AsyncClient(
        base_url=f"http://localhost:{port}", headers={"X-Forwarded-For": address}
    ) as base:
        r = await base.post(
            "/api/v1/signup",
            json={
                "company_name": f"WISP {slug}",
                "slug": slug,
                "email": email,
                "password": PASSWORD,
            },
        )
    assert r.status_code == 201, r.text
    return slug, email


# A JSON POST with the CSRF token from the cookie, as the PWA sends it.
POST = """
  const post = async (path, body) => {
    const token = (document.cookie.split('; ').find(c => c.startsWith('csrftoken=')) || '')
      .split('=')[1] || '';
    const r = await fetch(path, {method: 'POST', body: JSON.stringify(body || {}),
      headers: {'content-type': 'application/json', 'x-csrftoken': token}});
    const text = await r.text();
    return {status: r.status, body: text ? JSON.parse(text) : null};
  };
"""


def in_page(params: str, body: str) -> str:
    """One function for `page.evaluate`, with `post` in scope."""
    return f"async ({params}) => {{{POST}{body}}}"


PASSWORD_LOGIN = in_page(
    "[email, password]", "return post('/api/v1/auth/login', {email, password});"
)

REGISTER = in_page(
    "",
    """
  const options = await post('/api/v1/auth/passkeys/registration/options');
  if (options.status !== 200) return options;
  const credential = await navigator.credentials.create(
    {publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.body)});
  return post('/api/v1/auth/passkeys/registration', {...credential.toJSON(), name: 'Chromium'});
""",
)

SIGN_IN = in_page(
    "timeout",
    """
  const options = await post('/api/v1/auth/passkeys/authentication/options');
  if (options.status !== 200) return {signIn: options};
  options.body.timeout = timeout;
  let credential;
  try {
    credential = await navigator.credentials.get(
      {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body)});
  } catch (e) {
    return {error: e.name};
  }
  const assertion = credential.toJSON();
  return {assertion, signIn: await post('/api/v1/auth/passkeys/authentication', assertion)};
""",
)

ASSERT_ONLY = in_page(
    "",
    """
  const options = await post('/api/v1/auth/passkeys/authentication/options');
  const credential = await navigator.credentials.get(
    {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body)});
  return credential.toJSON();
""",
)

REPLAY = in_page("assertion", "return post('/api/v1/auth/passkeys/authentication', assertion);")
LOGOUT = in_page("", "return (await post('/api/v1/auth/logout')).status;")
ME = "async () => (await fetch('/api/v1/auth/me')).status"


@pytest.fixture
async def browser_page() -> AsyncIterator[tuple[Any, Any]]:
    _need_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context()
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        yield page, cdp
        await browser.close()


async def test_passkey_ceremonies_in_chromium(server: int, browser_page: Any) -> None:
    page, cdp = browser_page
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    added = await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    authenticator = added["authenticatorId"]
    slug, email = await sign_up(server)
    host = f"{slug}.localhost:{server}"
    ARTIFACTS.mkdir(exist_ok=True)

    # Any page on the tenant host gives a secure context on its origin (and the CSRF cookie).
    await page.goto(f"http://{host}/api/v1/auth/me")
    assert await page.evaluate("window.isSecureContext") is True
    login = await page.evaluate(PASSWORD_LOGIN, [email, PASSWORD])
    assert login["status"] == 200, login

    registered = await page.evaluate(REGISTER)
    assert registered["status"] == 201, registered
    assert registered["body"]["rp_id"] == f"{slug}.localhost"
    stored = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator}))[
        "credentials"
    ]
    assert [(c["rpId"], c["isResidentCredential"]) for c in stored] == [(f"{slug}.localhost", True)]

    assert await page.evaluate(LOGOUT) == 204
    assert await page.evaluate(ME) == 401

    first = await page.evaluate(SIGN_IN, 20000)
    assert first["signIn"]["status"] == 200, first
    assert first["signIn"]["body"]["email"] == email
    assert await page.evaluate(ME) == 200
    await page.goto(f"http://{host}/api/v1/auth/me")
    await page.screenshot(path=str(ARTIFACTS / "passkeys-signed-in.png"))

    # The same assertion again: its challenge is spent, so it signs nobody in.
    assert await page.evaluate(LOGOUT) == 204
    replay = await page.evaluate(REPLAY, first["assertion"])
    assert replay["status"] == 401, replay
    assert await page.evaluate(ME) == 401
    second = await page.evaluate(SIGN_IN, 20000)
    assert second["signIn"]["status"] == 200, second
    assert await page.evaluate(ME) == 200

    # A fresh, unused assertion made on A's host, not sent to A yet.
    assert await page.evaluate(LOGOUT) == 204
    fresh = await page.evaluate(ASSERT_ONLY)

    # Tenant B: the authenticator holds nothing for B's RP ID, and A's assertion is refused.
    other_slug, _other_email = await sign_up(server)
    other_host = f"{other_slug}.localhost:{server}"
    await page.goto(f"http://{other_host}/api/v1/auth/me")
    assert await page.evaluate(ME) == 401
    refused = await page.evaluate(SIGN_IN, 3000)
    assert refused == {"error": "NotAllowedError"}, refused
    relayed = await page.evaluate(REPLAY, fresh)
    assert relayed["status"] == 401, relayed
    assert await page.evaluate(ME) == 401
    await page.screenshot(path=str(ARTIFACTS / "passkeys-other-tenant-refused.png"))

    # The very assertion B refused was genuine: on its own host it signs in.
    await page.goto(f"http://{host}/api/v1/auth/me")
    accepted = await page.evaluate(REPLAY, fresh)
    assert accepted["status"] == 200, accepted
    assert await page.evaluate(ME) == 200
