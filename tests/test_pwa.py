"""The PWA as the server delivers it: page, assets, service worker, manifest, icons, catalogs,
and the first-load budget. The browser end to end is in test_pwa_browser.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, http, tenant_client

PWA = ROOT / "pwa"
DIST = PWA / "dist"
CATALOGS = PWA / "src" / "i18n"


def _need_build() -> None:
    """Skip without a build on a laptop lacking npm; under CI the build must be there."""
    if (DIST / "index.html").is_file():
        return
    message = "pwa/dist is missing: `make test` builds it (needs node and npm)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def boot_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="wisp-boot" type="application/json">(.*?)</script>', html)
    assert found, html
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered RGB rows of an 8-bit RGB PNG (filter 0 only, as we write)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 3 + 1
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(r[0] == 0 for r in rows)
    return width, height, [r[1:] for r in rows]


async def raw_get(app: Any, host: str, raw_path: str) -> tuple[int, bytes]:
    """A GET sent exactly as written: HTTP clients remove dot segments before sending."""
    from urllib.parse import unquote

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path.split("?")[0]),
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode())],
        "client": ("127.0.0.1", 5000),
        "server": (host, 80),
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


# Catalogs ----------------------------------------------------------------------------------------


def test_catalogs_have_the_same_keys_and_no_empty_text() -> None:
    en = json.loads((CATALOGS / "en.json").read_text())
    es = json.loads((CATALOGS / "es.json").read_text())
    assert set(en) == set(es), {"only in en": set(en) - set(es), "only in es": set(es) - set(en)}
    placeholder = re.compile(r"\{(\w+)\}")
    for key in en:
        assert en[key].strip() and es[key].strip(), key
        assert set(placeholder.findall(en[key])) == set(placeholder.findall(es[key])), key


def test_every_string_the_app_asks_for_is_in_the_catalog() -> None:
    en = json.loads((CATALOGS / "en.json").read_text())
    used: set[str] = set()
    for source in (PWA / "src").rglob("*.ts"):
        used |= set(re.findall(r'\bt\("([a-z_.-]+)"', source.read_text()))
    assert used, "no t() calls found: the pattern is out of date"
    assert not used - set(en), sorted(used - set(en))
    # Keys built at run time (status.*, kind.*, role.*, …) must cover every value the API sends.
    for prefix, values in {
        "status": [
            *("open", "scheduled", "in_progress", "cpe_authenticated", "activated"),
            *("signed_off", "cancelled", "pending_installation", "active", "suspended"),
            *("paid", "void"),
        ],
        "method": ["cash", "bank_transfer", "card", "check", "mobile_money", "online", "other"],
        "kind": ["installation", "repair", "maintenance", "removal"],
        "role": ["manager", "sales", "customer_service", "finance", "technical"],
        "action": ["schedule", "start", "authenticate-cpe", "activate", "sign-off", "cancel"],
        "reason": ["admin", "non_payment", "data_cap"],
        "lang": ["en", "es"],
    }.items():
        for value in values:
            assert f"{prefix}.{value}" in en, f"{prefix}.{value}"


# Budget ------------------------------------------------------------------------------------------


def test_first_load_javascript_is_under_budget() -> None:
    _need_build()
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is missing")
    result = subprocess.run(
        [npm, "run", "--silent", "size"], cwd=PWA, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kb = float(re.search(r"first-load JavaScript: ([\d.]+) KB", result.stdout).group(1))  # type: ignore[union-attr]
    assert 0 < kb < 150


# Serving -----------------------------------------------------------------------------------------


async def test_pages_on_tenant_and_base_hosts(make_tenant: Any) -> None:
    _need_build()
    tc = await make_tenant(language="es")
    for path in ["/", "/signin", "/invite/abc123", "/reset/xyz", "/app", "/app/work-orders/1"]:
        r = await tc.client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "script-src 'self'" in r.headers["content-security-policy"]
    html = (await tc.client.get("/")).text
    assert '<html lang="es"' in html  # the tenant's language: nobody is signed in
    boot = boot_data(html)
    assert boot["host"] == "tenant"
    assert boot["tenant"] == {"slug": tc.slug, "name": f"WISP {tc.slug}"}
    assert re.search(r'<script type="module"[^>]* src="/assets/[^"]+\.js"', html)
    # A signed-in user's own language wins; here the manager kept the tenant's.
    app = tc.client._transport.app
    async with http(app) as base:
        r = await base.get("/", headers={"Accept-Language": "en"})
        assert r.status_code == 200
        assert boot_data(r.text)["host"] == "base"
        assert boot_data(r.text)["tenant"] is None
        assert '<html lang="en"' in r.text
        r = await base.get("/signup", headers={"Accept-Language": "es-MX,es;q=0.9"})
        assert '<html lang="es"' in r.text
    async with http(app, "nobody.localhost") as unknown:
        r = await unknown.get("/")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_boot_data_cannot_break_out_of_its_script(app: Any) -> None:
    _need_build()
    from app.pwa import shell

    page = shell.render_index("en", "#1d4ed8", {"tenant": {"name": "</script><script>alert(1)"}})
    assert page is not None
    text = page.decode()
    assert "</script><script>alert(1)" not in text
    assert boot_data(text)["tenant"]["name"] == "</script><script>alert(1)"


async def test_assets_are_immutable_and_gzipped(make_tenant: Any) -> None:
    _need_build()
    tc = await make_tenant()
    html = (await tc.client.get("/")).text
    script = re.search(r'src="(/assets/[^"]+\.js)"', html).group(1)  # type: ignore[union-attr]
    r = await tc.client.get(script, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    on_disk = (DIST / script.lstrip("/")).read_bytes()
    assert r.content == on_disk  # httpx decodes the gzip
    r = await tc.client.get(script, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers
    assert r.content == on_disk

    sw = await tc.client.get("/sw.js")
    assert sw.status_code == 200
    assert sw.headers["cache-control"] == "no-cache"
    assert script in sw.text  # the precache list names this build's files
    assert "__WISP_PRECACHE__" not in sw.text


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../pyproject.toml",
        "/assets/..%2F..%2Fpyproject.toml",
        "/assets/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/assets/..",
        "/assets/.",
        "/assets/%00main.js",
        "/assets/..%5c..%5cpyproject.toml",
        "/assets/index.html",
        "/assets/../index.html",
        "/assets/....//....//pyproject.toml",
    ],
)
async def test_no_path_escapes_dist(make_tenant: Any, path: str) -> None:
    _need_build()
    tc = await make_tenant()
    status, body = await raw_get(tc.client._transport.app, tc.host, path)
    # 422: a NUL in the path is refused by the input guard before any file is looked for.
    assert status in (404, 400, 422), (path, status)
    assert b"[project]" not in body
    assert b"<html" not in body


def test_safe_file_refuses_anything_outside_its_folder(tmp_path: Path, monkeypatch: Any) -> None:
    from app.pwa import shell

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "assets" / "ok.js").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    (dist / "assets" / "link.js").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(shell, "dist_dir", lambda: dist)
    found = shell.safe_file("assets", "ok.js")
    assert found is not None and found.body == b"ok"
    for name in ["../../secret.txt", "..", ".", "link.js", "", "a/b.js", "ok.js\x00", ".hidden"]:
        assert shell.safe_file("assets", name) is None, name
    assert shell.safe_file("..", "secret.txt") is None


async def test_a_missing_build_is_a_clear_503(
    make_tenant: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    from app.pwa import shell

    tc = await make_tenant()
    monkeypatch.setattr(shell, "dist_dir", lambda: tmp_path / "no-dist")
    for path in ["/", "/app/work-orders", "/sw.js", "/assets/main-abc.js"]:
        r = await tc.client.get(path)
        assert r.status_code == 503, path
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["type"] == "/problems/app-not-built"
        assert "npm run build" in problem["detail"]
    # The manifest and icons are the server's own, and stay available.
    assert (await tc.client.get("/manifest.webmanifest")).status_code == 200


# Manifest and icons ------------------------------------------------------------------------------


async def test_each_tenant_gets_its_own_manifest(two_tenants: Any) -> None:
    a, b = two_tenants
    ma = (await a.client.get("/manifest.webmanifest")).json()
    r = await b.client.get("/manifest.webmanifest")
    assert r.headers["content-type"].startswith("application/manifest+json")
    mb = r.json()
    assert ma["name"] == f"WISP {a.slug}" and mb["name"] == f"WISP {b.slug}"
    for m in (ma, mb):
        assert m["display"] == "standalone"
        assert m["start_url"] == "/" and m["scope"] == "/"
        assert len(m["short_name"]) <= 12
        assert re.fullmatch(r"#[0-9a-f]{6}", m["theme_color"])
        sizes = {(i["sizes"], i.get("purpose", "any")) for i in m["icons"]}
        assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in ma["icons"]:
        r = await a.client.get(icon["src"])
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/png"
        width, height, _rows = decode_png(r.content)
        assert f"{width}x{height}" == icon["sizes"]
    assert (await a.client.get("/icons/icon-64.png")).status_code == 404
    app = a.client._transport.app
    async with http(app) as base:
        assert (await base.get("/manifest.webmanifest")).json()["name"] == "Wisp Cloud"


def test_icon_shows_the_initials_on_the_colour() -> None:
    from app.pwa.icons import icon_png, initials, ink_for, rgb

    assert initials("Acme Net") == "AN"
    assert initials("señal inalámbrica del sur") == "SI"
    assert initials("  ") == "W"
    assert initials("42 Wireless") == "4W"
    width, height, rows = decode_png(icon_png("AN", "#1d4ed8", 192))
    assert (width, height) == (192, 192)
    background = bytes(rgb("#1d4ed8"))
    ink = bytes(ink_for(rgb("#1d4ed8")))
    assert ink == b"\xff\xff\xff"  # white on blue has the better contrast
    assert rows[0][:3] == background and rows[-1][-3:] == background
    pixels = {rows[y][x * 3 : x * 3 + 3] for y in range(height) for x in range(width)}
    assert pixels == {background, ink}
    # A light colour gets dark letters; a malformed colour falls back to the default.
    assert ink_for(rgb("#fde047")) != (255, 255, 255)
    assert rgb("red; x") == rgb("#1d4ed8")
    # The maskable icon keeps its letters inside the central safe circle (radius 40%).
    _w, _h, rows = decode_png(icon_png("WW", "#1d4ed8", 512, maskable=True))
    for y, row in enumerate(rows):
        for x in range(512):
            if row[x * 3 : x * 3 + 3] == ink:
                assert (x - 256) ** 2 + (y - 256) ** 2 <= (0.4 * 512) ** 2


async def test_page_routes_are_public_but_the_api_is_not(make_tenant: Any) -> None:
    tc = await make_tenant()
    anonymous = await tenant_client(tc.client._transport.app, tc.slug, tc.email, login=False)
    assert (await anonymous.get("/manifest.webmanifest")).status_code == 200
    assert (await anonymous.get("/icons/icon-192.png")).status_code == 200
    assert (await anonymous.get("/api/v1/auth/me")).status_code == 401
    await anonymous.client.aclose()


async def test_a_session_from_another_tenant_changes_nothing_on_the_page(
    two_tenants: Any,
) -> None:
    _need_build()
    a, b = two_tenants
    app = a.client._transport.app
    # A's signed-in cookies, presented on B's host: B's page, B's manifest, nobody signed in.
    async with http(app, b.host) as client:
        client.cookies.update(a.client.cookies)
        page = await client.get("/app/work-orders")
        assert boot_data(page.text)["tenant"]["slug"] == b.slug
        assert a.slug not in page.text
        manifest = (await client.get("/manifest.webmanifest")).json()
        assert manifest["name"] == f"WISP {b.slug}"
        assert (await client.get("/api/v1/auth/me")).status_code == 401
