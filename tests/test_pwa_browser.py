"""The PWA end to end in Debian's Chromium at phone size, against the real app under uvicorn.

A new WISP signs up on the base host and its manager signs in on the portal, registers a passkey
with the DevTools virtual authenticator and signs in with it; a technician accepts an emailed
invitation and completes an installation with the network cut in the middle (reloading with no
network at all), and the server ends with exactly one active subscriber; a change the server
refuses is shown with its reason until dismissed; the manifest is valid and the service worker
controls the page; axe-core finds no serious or critical violation. Screenshots of the main
screens go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, ROOT, WORKER, Inbox, confirm_owner, unique_slug

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "pwa"
AXE = ROOT / "pwa" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


def _need_browser() -> None:
    """Skip on a laptop without Chromium or the build; under CI that is a failure."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    elif not (ROOT / "pwa" / "dist" / "index.html").exists():
        problem = "pwa/dist is missing (make test builds it; needs npm)"
    elif not AXE.exists():
        problem = "pwa/node_modules/axe-core is missing (npm ci in pwa/)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the PWA browser tests need: {problem}")
        pytest.skip(f"the PWA browser tests need: {problem}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own copy of the build, so that a test can publish a "new version"."""
    _need_browser()
    copy = tmp_path_factory.mktemp("pwa") / "dist"
    shutil.copytree(ROOT / "pwa" / "dist", copy)
    return copy


@pytest.fixture(scope="module")
def server(dist: Path) -> Iterator[int]:
    """The real app in its own process, as a browser sees it; yields its port."""
    _need_browser()
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "PUBLIC_PORT": str(port), "WISP_PWA_DIST": str(dist)}
    log = ROOT / ".data" / f"pwa-uvicorn-{WORKER}.log"
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


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _need_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def phone(browser: Any) -> tuple[Any, Any]:
    """A phone-sized page under the app's real CSP; uncaught errors and CSP refusals collected."""
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.errors = errors
    return context, page


class Api:
    """The API as a script would call it, on one tenant host."""

    def __init__(self, port: int, slug: str) -> None:
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Host": f"{slug}.localhost:{port}"}
        )
        self.client.get("/api/v1/auth/me")

    def get(self, path: str) -> Any:
        r = self.client.get(path)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        token = self.client.cookies.get("csrftoken") or ""
        r = self.client.post(path, json=body or {}, headers={"X-CSRFToken": token})
        assert r.status_code == status, r.text
        return r.json() if r.content else None


async def sign_up(port: int, name: str = "Señal Sur", confirmed: bool = True) -> tuple[str, str]:
    """A tenant signed up through the API, from an address of its own (uvicorn trusts
    X-Forwarded-For from 127.0.0.1, as behind a proxy; signups are throttled per address), and
    with the owner's address confirmed unless asked otherwise."""
    slug = unique_slug("pwa")
    email = f"owner@{slug}.example.com"
    address = "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))
    headers = {"Host": "localhost", "X-Forwarded-For": address}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
        r = await c.post(
            "/api/v1/signup",
            json={"company_name": name, "slug": slug, "email": email, "password": PASSWORD},
        )
    assert r.status_code == 201, r.text
    if confirmed:
        await confirm_owner(slug)
    return slug, email


def manager_api(port: int, slug: str, email: str) -> Api:
    api = Api(port, slug)
    api.post("/api/v1/auth/login", {"email": email, "password": PASSWORD})
    return api


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def axe(page: Any, name: str) -> None:
    """No serious or critical accessibility violation on the screen shown."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # The app's CSP refuses inline scripts (add_script_tag); DevTools evaluation is not
        # subject to it, so axe-core's file from node_modules is evaluated instead.
        await page.evaluate(AXE.read_text() + "\n;undefined")
    result = await page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return {passes: r.passes.length, violations: r.violations.map(v => ({id: v.id,"
        " impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))}; }"
    )
    assert result["passes"] > 10, f"{name}: axe checked almost nothing"
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


async def sign_in(page: Any, origin: str, email: str) -> None:
    await page.goto(f"{origin}/signin")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form button[type=submit]")
    await page.wait_for_url(re.compile(r"/app(/work-orders)?$"))


# Sign-up, sign-in, passkeys, manifest, service worker --------------------------------------------


async def test_sign_up_then_passkey_sign_in_and_an_installable_app(
    server: int, browser: Any
) -> None:
    context, page = await phone(browser)
    base = f"http://localhost:{server}"
    await page.goto(base + "/")
    await page.wait_for_selector("input[name=company_name]")
    assert await page.get_attribute("html", "lang") == "en"
    await shot(page, "01-signup")
    await axe(page, "signup")
    # The scan can fail: a planted input without a label is caught.
    await page.evaluate(
        "document.querySelector('main').append(Object.assign(document.createElement('input'),"
        " {id: 'planted'}))"
    )
    with pytest.raises(AssertionError, match="label"):
        await axe(page, "planted violation")
    await page.evaluate("document.getElementById('planted').remove()")

    # Errors come back per field from the problem details.
    await page.fill("input[name=company_name]", "Señal Sur")
    await page.fill("input[name=slug]", "x")
    await page.fill("input[name=email]", "not-an-email")
    await page.fill("input[name=password]", "short")
    await page.click("form button[type=submit]")
    await page.wait_for_selector("[data-field=slug] input[aria-invalid=true]")
    assert await page.inner_text("[data-field=email] .error")
    assert await page.inner_text("[data-field=password] .error")
    await shot(page, "02-signup-errors")
    await axe(page, "signup with errors")

    slug = unique_slug("pwa")
    email = f"owner@{slug}.example.com"
    await page.fill("input[name=slug]", slug)
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form button[type=submit]")
    link = page.locator("#portal-link")
    await link.wait_for()
    origin = f"http://{slug}.localhost:{server}"
    assert await link.get_attribute("href") == f"{origin}/signin"
    await link.click()
    await page.wait_for_selector("input[name=password]")
    assert "Señal Sur" in await page.inner_text("h1")
    await shot(page, "03-signin")
    await axe(page, "sign-in")

    await sign_in(page, origin, email)
    await page.wait_for_selector("h1")
    await shot(page, "04-office-home")
    await axe(page, "office home")

    # The service worker installs and controls the page; the manifest is the tenant's own.
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()
    assert await page.evaluate("!!navigator.serviceWorker.controller")
    manifest = await page.evaluate(
        """async () => {
      const href = document.querySelector('link[rel=manifest]').href;
      const m = await (await fetch(href)).json();
      const icons = [];
      for (const icon of m.icons) {
        const r = await fetch(icon.src);
        const bitmap = await createImageBitmap(await r.blob());
        icons.push({sizes: icon.sizes, purpose: icon.purpose || 'any',
                    type: r.headers.get('content-type'), real: bitmap.width + 'x' + bitmap.height});
      }
      return {...m, checked: icons};
    }"""
    )
    assert manifest["name"] == "Señal Sur"
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["theme_color"] == await page.get_attribute("meta[name=theme-color]", "content")
    for icon in manifest["checked"]:
        assert icon["type"] == "image/png"
        assert icon["real"] == icon["sizes"]
    assert {i["sizes"] for i in manifest["checked"]} >= {"192x192", "512x512"}

    # A passkey from the DevTools virtual authenticator, then a sign-in with it.
    cdp = await context.new_cdp_session(page)
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
    await page.click("a[href='/app/passkeys']")
    await page.fill("input[name=name]", "Field phone")
    await page.click("#add-passkey")
    await page.wait_for_selector("text=Field phone")
    stored = await cdp.send(
        "WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]}
    )
    assert [c["rpId"] for c in stored["credentials"]] == [f"{slug}.localhost"]
    await shot(page, "05-passkeys")
    await axe(page, "passkeys")

    # Passkey first: on the sign-in page the browser offers the passkey by itself (conditional
    # mediation; the virtual authenticator answers at once), no button pressed.
    await page.click("#sign-out")
    await page.wait_for_url(re.compile(r"/signin$"))
    await page.wait_for_url(re.compile(r"/app$"))
    me = await page.evaluate("async () => (await fetch('/api/v1/auth/me')).json()")
    assert me["email"] == email

    # Where the browser has no conditional UI, the button does the same.
    await page.add_init_script(
        "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"
    )
    # Sign out through the API and load the sign-in page afresh, so that no conditional
    # request from the previous page can sign the user back in before the script applies.
    await page.evaluate(
        """async () => {
            const token = (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "";
            await fetch('/api/v1/auth/logout', {method: 'POST', headers: {'X-CSRFToken': token}});
        }"""
    )
    origin = re.match(r"^https?://[^/]+", page.url)
    assert origin
    await page.goto(origin.group(0) + "/signin")
    assert await page.evaluate("async () => (await fetch('/api/v1/auth/me')).status") == 401
    await page.click("#passkey-signin")
    await page.wait_for_url(re.compile(r"/app$"))
    me = await page.evaluate("async () => (await fetch('/api/v1/auth/me')).json()")
    assert me["email"] == email
    assert not page.errors, page.errors
    await context.close()


# The technician, offline in the middle of an installation ----------------------------------------


async def mailed_link(inbox: Inbox, address: str, path: str, timeout: float = 20) -> str:
    """The path of the first link to `path` mailed to `address` (other mails may come first).

    The worker writes links with its own idea of the public port, so only the path is kept.
    """
    pattern = re.compile(r"http://[^/\s]+(" + re.escape(path) + r"[A-Za-z0-9_-]+)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in inbox.to(address):
            found = pattern.search(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
            if found:
                return found.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {path} link mailed to {address}")


async def accept_invitation(page: Any, api: Api, inbox: Inbox, email: str, origin: str) -> None:
    api.post("/api/v1/staff/invitations", {"email": email, "role": "technical"}, status=201)
    await page.goto(origin + await mailed_link(inbox, email, "/invite/"))
    await page.fill("input[name=name]", "Tina Tech")
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=repeat]", PASSWORD)
    await shot(page, "06-invitation")
    await axe(page, "invitation")
    await page.click("form button[type=submit]")
    await page.wait_for_url(re.compile(r"/signin\?welcome=1$"))


async def draw_signature(page: Any) -> None:
    box = await page.locator("canvas.signature").bounding_box()
    await page.mouse.move(box["x"] + 20, box["y"] + 40)
    await page.mouse.down()
    for i in range(12):
        await page.mouse.move(box["x"] + 20 + i * 22, box["y"] + 30 + (i % 3) * 25)
    await page.mouse.up()


async def test_technician_installs_offline_and_everything_syncs_once(
    server: int, browser: Any, inbox: Inbox, worker: Any
) -> None:
    slug, owner = await sign_up(server)
    origin = f"http://{slug}.localhost:{server}"
    api = manager_api(server, slug, owner)
    plan = api.post(
        "/api/v1/rate-plans",
        {"name": "Tier 2", "download_kbps": 5000, "upload_kbps": 500, "monthly_price": "15.00"},
        status=201,
    )
    ana = api.post(
        "/api/v1/subscribers",
        {
            "name": "Ana Pérez",
            "email": f"ana@{slug}.example.com",
            "plan_id": plan["id"],
            "address": "Calle 1 #23, San Pedro",
            "latitude": 19.43,
            "longitude": -99.13,
            "phone": "+52 55 1234 5678",
        },
        status=201,
    )
    work_order = ana["installation_work_order_id"]
    site = api.post("/api/v1/sites", {"name": "Cerro Alto"}, status=201)
    sector = api.post(
        "/api/v1/access-points",
        {"site_id": site["id"], "name": "Sector Norte", "frequency_mhz": 5800, "ssid": "norte"},
        status=201,
    )

    context, page = await phone(browser)
    tech_email = f"tina@{slug}.example.com"
    await accept_invitation(page, api, inbox, tech_email, origin)
    await sign_in(page, origin, tech_email)
    await page.wait_for_url(re.compile(r"/app/work-orders$"))
    await page.evaluate("navigator.serviceWorker.ready")
    card = page.locator(f"a[href='/app/work-orders/{work_order}']")
    await card.wait_for()
    assert "Ana Pérez" in await card.inner_text()
    await shot(page, "07-my-work-orders")
    await axe(page, "my work orders")

    await card.click()
    await page.wait_for_selector("#do-schedule")
    geo = await page.get_attribute("a.map-link", "href")
    assert geo and geo.startswith("geo:19.43,-99.13")
    await shot(page, "08-work-order")
    await axe(page, "work order")
    await page.click("#do-schedule")
    await page.wait_for_selector("#do-start")
    await page.click("#do-start")
    await page.wait_for_selector("input[name=cpe_mac]")
    await page.wait_for_selector("#sync-status .ok")  # schedule and start reached the server

    # The network goes away in the middle of the installation.
    await context.set_offline(True)
    await page.fill("input[name=cpe_mac]", "ff:ff:ff:ff:ff:ff")
    await page.click("#do-cpe")
    await page.wait_for_selector("[data-field=cpe_mac] input[aria-invalid=true]")
    await page.fill("input[name=cpe_mac]", "AA-BB-CC-DD-EE-01")
    await page.select_option("select[name=access_point_id]", sector["id"])  # kept for offline
    await page.click("#do-cpe")
    await page.wait_for_selector("dd:has-text('Sector Norte (norte)')")
    await page.wait_for_selector("#do-activate")
    await page.wait_for_selector("#sync-status .warn")
    await shot(page, "09-offline-pending")

    # A reload with no network: the service worker serves the app, IndexedDB the order.
    await page.reload()
    await page.wait_for_selector("#do-activate")
    assert "Ana Pérez" in await page.inner_text("h1")
    await page.click("#do-activate")
    await page.wait_for_selector("canvas.signature")
    await page.click("#do-signoff")  # nothing drawn yet: refused on the device
    await page.wait_for_selector("[data-field=signature] .error:not(:empty)")
    await draw_signature(page)
    await shot(page, "10-sign-off")
    await axe(page, "sign-off")
    await page.click("#do-signoff")
    await page.wait_for_selector(".ok-notice")
    pending = await page.locator("[data-state=pending]").count()
    assert pending == 3  # CPE, activation, sign-off
    await page.goto(f"{origin}/app/work-orders")  # offline navigation, still the app
    await page.wait_for_selector(f"a[href='/app/work-orders/{work_order}']")
    assert api.get(f"/api/v1/work-orders/{work_order}")["status"] == "in_progress"

    # Back online: the outbox replays in order and the server catches up.
    await context.set_offline(False)
    await page.wait_for_selector("#sync-status .ok", timeout=20000)
    done = api.get(f"/api/v1/work-orders/{work_order}")
    assert done["status"] == "signed_off"
    assert done["cpe_mac"] == "aa:bb:cc:dd:ee:01"
    assert done["access_point_id"] == sector["id"]
    assert done["signed_by"] == "Ana Pérez" and done["has_signature"] is True
    active = api.get("/api/v1/subscribers?status=active")["items"]
    assert [s["id"] for s in active] == [ana["id"]]
    assert api.get(f"/api/v1/subscribers/{ana['id']}")["status"] == "active"
    await page.goto(f"{origin}/app/work-orders/{work_order}")
    await page.wait_for_selector("[data-state=synced]")
    assert await page.locator("[data-state=pending]").count() == 0
    await shot(page, "11-synced")
    assert not page.errors, page.errors
    await context.close()


async def test_a_change_the_server_refuses_is_shown_until_dismissed(
    server: int, browser: Any
) -> None:
    slug, owner = await sign_up(server, name="Refusal WISP")
    origin = f"http://{slug}.localhost:{server}"
    api = manager_api(server, slug, owner)
    plan = api.post(
        "/api/v1/rate-plans",
        {"name": "Basic", "download_kbps": 2000, "upload_kbps": 500, "monthly_price": "10.00"},
        status=201,
    )
    ids = []
    for name in ("Luis", "Marta"):
        sub = api.post(
            "/api/v1/subscribers",
            {"name": name, "email": f"{name.lower()}@{slug}.example.com", "plan_id": plan["id"]},
            status=201,
        )
        ids.append(sub["installation_work_order_id"])
    # Luis is installed with the MAC through the API already.
    today = time.strftime("%Y-%m-%d")
    api.post(f"/api/v1/work-orders/{ids[0]}/schedule", {"install_date": today})
    api.post(f"/api/v1/work-orders/{ids[0]}/start")
    api.post(f"/api/v1/work-orders/{ids[0]}/authenticate-cpe", {"cpe_mac": "aa:bb:cc:dd:ee:02"})
    api.post(f"/api/v1/work-orders/{ids[0]}/activate")

    # The manager, on a phone, takes Marta's order and records the same MAC while offline.
    context, page = await phone(browser)
    await sign_in(page, origin, owner)
    await page.goto(f"{origin}/app/work-orders/{ids[1]}")
    await page.wait_for_selector("#do-schedule")
    await page.click("#do-schedule")
    await page.click("#do-start")
    await page.wait_for_selector("input[name=cpe_mac]")
    await context.set_offline(True)
    await page.fill("input[name=cpe_mac]", "aa:bb:cc:dd:ee:02")
    await page.click("#do-cpe")
    await page.wait_for_selector("#do-activate")
    await context.set_offline(False)

    refused = page.locator("[data-state=refused]")
    await refused.wait_for(timeout=20000)
    reason = await refused.locator(".reason").inner_text()
    assert reason.strip(), "the server's reason is shown"
    assert await page.locator("#sync-status .bad").count() == 1
    await page.wait_for_selector("input[name=cpe_mac]")  # back at the CPE step
    await shot(page, "12-refused")
    await axe(page, "refused change")
    assert api.get(f"/api/v1/work-orders/{ids[1]}")["status"] == "in_progress"

    # It survives a reload, and goes only when the user dismisses it.
    await page.reload()
    await page.locator("[data-state=refused]").wait_for()
    await page.click("[data-state=refused] button")
    await page.wait_for_selector("[data-state=refused]", state="detached")
    await page.wait_for_selector("#sync-status .ok")
    assert not page.errors, page.errors
    await context.close()


# Office screens and the subscriber portal -------------------------------------------------------


async def test_office_screens_and_the_subscriber_portal(
    server: int, browser: Any, inbox: Inbox, worker: Any
) -> None:
    slug, owner = await sign_up(server, name="Oficina WISP", confirmed=False)
    origin = f"http://{slug}.localhost:{server}"
    context, page = await phone(browser)
    # The owner confirms the address from the welcome mail first (the subscriber's invitation
    # below is mailed only then).
    await page.goto(origin + await mailed_link(inbox, owner, "/confirm/"))
    await page.click("form button[type=submit]")
    await page.wait_for_selector(".ok-notice")
    await axe(page, "email confirmed")
    await sign_in(page, origin, owner)

    # Rate plans: a JSON number is refused by the API, so the app sends the price as typed.
    await page.goto(f"{origin}/app/plans")
    await page.fill("input[name=name]", "Tier 2")
    await page.fill("input[name=download_kbps]", "5000")
    await page.fill("input[name=upload_kbps]", "500")
    await page.fill("input[name=monthly_price]", "15.00")
    await page.click("form button[type=submit]")
    await page.wait_for_selector("td:has-text('Tier 2')")
    await shot(page, "13-plans")
    await axe(page, "plans")

    # A subscriber added here opens the installation and mails the portal invitation.
    await page.goto(f"{origin}/app/subscribers/new")
    await page.fill("input[name=name]", "Beatriz Gómez")
    await page.fill("input[name=email]", f"bea@{slug}.example.com")
    await page.fill("input[name=address]", "Av. Central 100")
    await page.select_option("select[name=plan_id]", label="Tier 2 — $15.00")
    await page.click("form button[type=submit]")
    await page.wait_for_url(re.compile(r"/app/subscribers/[0-9a-f-]{36}$"))
    await page.wait_for_selector("ol.history li")
    assert "Beatriz Gómez" in await page.inner_text("h1")
    await page.wait_for_selector("a[href^='/app/work-orders/']")
    await shot(page, "14-subscriber")
    await axe(page, "subscriber")

    await page.goto(f"{origin}/app/subscribers?q=beatriz")
    await page.wait_for_selector("#results a")
    await shot(page, "15-subscribers")
    await axe(page, "subscribers")
    await page.goto(f"{origin}/app/board")
    await page.wait_for_selector(".board .card")
    await shot(page, "16-board")
    await axe(page, "board")
    await page.goto(f"{origin}/app/invoices")
    await page.wait_for_selector("main .muted, main table")
    await axe(page, "invoices")

    await page.goto(f"{origin}/app/staff")
    await page.fill("input[name=email]", f"sam@{slug}.example.com")
    await page.select_option("select[name=role]", "sales")
    await page.click("form button[type=submit]")
    await page.wait_for_selector(f"text=sam@{slug}.example.com")
    await shot(page, "17-staff")
    await axe(page, "staff")

    # Spanish, chosen on the device: the document language follows.
    await page.select_option("#lang", "es")
    await page.wait_for_selector("h1:has-text('Personal')")
    assert await page.get_attribute("html", "lang") == "es"
    await shot(page, "18-staff-es")
    await axe(page, "staff in Spanish")

    # The subscriber's own portal, from the emailed invitation.
    link = await mailed_link(inbox, f"bea@{slug}.example.com", "/portal/invite/")
    portal_context, portal = await phone(browser)
    await portal.goto(origin + link)
    await portal.fill("input[name=password]", PASSWORD)
    await portal.fill("input[name=repeat]", PASSWORD)
    await portal.click("form button[type=submit]")
    await portal.wait_for_url(re.compile(r"/portal$"))
    await portal.wait_for_selector("text=Tier 2")
    assert "Beatriz Gómez" in await portal.inner_text("main")
    await shot(portal, "19-portal")
    await axe(portal, "portal")
    # A subscriber's session never reaches the staff screens' data.
    status = await portal.evaluate("async () => (await fetch('/api/v1/subscribers')).status")
    assert status == 403
    assert not page.errors and not portal.errors, (page.errors, portal.errors)
    await portal_context.close()
    await context.close()


# A new version ---------------------------------------------------------------------------------


async def test_a_new_version_waits_for_the_user(server: int, dist: Path, browser: Any) -> None:
    context, page = await phone(browser)
    await page.goto(f"http://localhost:{server}/")
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()
    assert await page.evaluate("!!navigator.serviceWorker.controller")
    await page.fill("input[name=company_name]", "Half-typed")
    worker = dist / "sw.js"
    original = worker.read_text()
    try:
        worker.write_text(original + "\n// the next deployment\n")
        await page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
        banner = page.locator(".banner.update")
        await banner.wait_for()
        # Nothing is taken away on its own: the typed text is still there.
        assert await page.input_value("input[name=company_name]") == "Half-typed"
        await shot(page, "20-update-available")
        await axe(page, "update banner")
        async with page.expect_navigation():
            await banner.locator("button").click()
        await page.wait_for_selector("input[name=company_name]")
        assert await page.locator(".banner.update").count() == 0
        assert await page.evaluate(
            "navigator.serviceWorker.getRegistration().then(r => !r.waiting && !!r.active)"
        )
    finally:
        worker.write_text(original)
    assert not page.errors, page.errors
    await context.close()


# Password reset ----------------------------------------------------------------------------------


async def test_password_reset_through_the_emailed_link(
    server: int, browser: Any, inbox: Inbox, worker: Any
) -> None:
    slug, owner = await sign_up(server, name="Reset WISP")
    origin = f"http://{slug}.localhost:{server}"
    context, page = await phone(browser)
    await page.goto(f"{origin}/signin")
    await page.click("a[href='/forgot']")
    await page.fill("input[name=email]", owner)
    await page.click("form button[type=submit]")
    await page.wait_for_selector(".ok-notice")
    await axe(page, "forgot password")
    link = await mailed_link(inbox, owner, "/reset/")
    await page.goto(origin + link)
    new_password = "a brand new horse staple"
    await page.fill("input[name=password]", new_password)
    await page.fill("input[name=repeat]", new_password + "!")
    await page.click("form button[type=submit]")
    await page.wait_for_selector("[data-field=repeat] input[aria-invalid=true]")
    await page.fill("input[name=repeat]", new_password)
    await shot(page, "21-reset")
    await axe(page, "reset")
    await page.click("form button[type=submit]")
    await page.wait_for_url(re.compile(r"/signin\?reset=1$"))
    await page.fill("input[name=email]", owner)
    await page.fill("input[name=password]", new_password)
    await page.click("form button[type=submit]")
    await page.wait_for_url(re.compile(r"/app$"))
    # The link is spent: a second use is refused with the server's reason, on the form.
    await page.goto(origin + link)
    await page.fill("input[name=password]", "yet another horse staple")
    await page.fill("input[name=repeat]", "yet another horse staple")
    await page.click("form button[type=submit]")
    await page.wait_for_selector(".form-problem")
    assert await page.inner_text(".form-problem")
    assert not page.errors, page.errors
    await context.close()


# Link test ---------------------------------------------------------------------------------------


async def fake_gateway(port: int, slug: str, api: Api, stop: asyncio.Event) -> list[str]:
    """A gateway at the protocol level: enrolls, then answers every link test it is given."""
    created = api.post("/api/v1/gateways", {"name": "NOC"}, status=201)
    answered: list[str] = []
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Host": f"{slug}.localhost:{port}"}
    ) as gw:
        r = await gw.post("/gateway/v1/enroll", json={"token": created["enrollment_token"]})
        assert r.status_code == 200, r.text
        gw.headers["Authorization"] = f"Bearer {r.json()['secret']}"
        while not stop.is_set():
            state = await gw.get("/gateway/v1/state")
            assert state.status_code == 200, state.text
            for command in state.json()["commands"]:
                if command["kind"] == "link_test" and command["id"] not in answered:
                    result = {"ok": True, "loss_percent": 0.0, "rtt_min_ms": 1.2}
                    result |= {"rtt_avg_ms": 2.5, "rtt_max_ms": 4.1}
                    r = await gw.post(f"/gateway/v1/commands/{command['id']}/result", json=result)
                    assert r.status_code == 200, r.text
                    answered.append(command["id"])
            await asyncio.sleep(0.3)
    return answered


async def test_link_test_from_the_cpe_step(server: int, browser: Any) -> None:
    slug, owner = await sign_up(server, name="Link WISP")
    origin = f"http://{slug}.localhost:{server}"
    api = manager_api(server, slug, owner)
    plan = api.post(
        "/api/v1/rate-plans",
        {"name": "Basic", "download_kbps": 2000, "upload_kbps": 500, "monthly_price": "10.00"},
        status=201,
    )
    sub = api.post(
        "/api/v1/subscribers",
        {"name": "Nora", "email": f"nora@{slug}.example.com", "plan_id": plan["id"]},
        status=201,
    )
    wo = sub["installation_work_order_id"]
    api.post(f"/api/v1/work-orders/{wo}/schedule", {"install_date": time.strftime("%Y-%m-%d")})
    api.post(f"/api/v1/work-orders/{wo}/start")
    api.post(f"/api/v1/work-orders/{wo}/authenticate-cpe", {"cpe_mac": "aa:bb:cc:dd:ee:07"})

    context, page = await phone(browser)
    await sign_in(page, origin, owner)
    await page.goto(f"{origin}/app/work-orders/{wo}")
    # No gateway yet: the server's reason is shown, and activation is still offered.
    await page.click("#do-link-test")
    await page.wait_for_selector("#link-test-result .error-notice")
    assert await page.inner_text("#link-test-result")
    # Offline: the test needs the network, and says so.
    await context.set_offline(True)
    await page.click("#do-link-test")
    await page.wait_for_selector("#link-test-result .warn-notice")
    await context.set_offline(False)

    stop = asyncio.Event()
    gateway = asyncio.create_task(fake_gateway(server, slug, api, stop))
    try:
        await asyncio.sleep(1)  # enrolled
        await page.click("#do-link-test")
        await page.wait_for_selector("#link-test-result .ok-notice", timeout=30000)
        assert "2.5 ms" in await page.inner_text("#link-test-result")
        await shot(page, "22-link-test")
        await axe(page, "link test")
    finally:
        stop.set()
        answered = await gateway
    assert len(answered) == 1
    tests = api.get(f"/api/v1/subscribers/{sub['id']}/link-tests")["items"]
    assert [t["status"] for t in tests][:1] == ["done"]
    assert not page.errors, page.errors
    await context.close()
