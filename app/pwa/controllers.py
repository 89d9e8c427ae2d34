"""Serving the PWA on the base host and every tenant host.

Client-side routes all return the same page; the app decides what to show. The page is never
cached by HTTP (the service worker keeps its own versioned copy), hashed assets are cached for a
year, and the service worker script is always revalidated so that updates are found.
"""

from __future__ import annotations

from app.core.roles import ANYONE, allow
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from app.core.i18n import LANGUAGES, _, current_language
from app.core.problems import NotFound, Problem
from app.pwa import shell
from app.pwa.icons import icon_png
from app.pwa.manifest import app_initials, manifest, theme_colour
from tenants.hosts import BASE, BaseHost
from tenants.registry import TenantRef

AnyRequest = Request[Any, Any, State]

# Client-side routes: sign-in pages, staff screens under /app, the subscriber portal under /portal.
# Emails link to /invite/{token}, /reset/{token} and /confirm/{token}.
PAGE_PATHS = [
    "/",
    "/signin",
    "/signup",
    "/forgot",
    "/invite/{token:str}",
    "/reset/{token:str}",
    "/confirm/{token:str}",
    "/app",
    "/app/{rest:path}",
    "/portal",
    "/portal/{rest:path}",
]

NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
# Inline JSON data blocks are not scripts, so `script-src 'self'` holds. Pages carry tokens in
# their address (/invite/…, /reset/…), hence no referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class NotBuilt(Problem):
    status = 503
    slug = "app-not-built"

    def title(self) -> str:
        return _("The app is not built")


def _not_built() -> NotBuilt:
    return NotBuilt(
        _(
            "The web app has not been built on this server. Run `make run`, or "
            "`npm ci && npm run build` in the pwa folder."
        )
    )


def _host(request: AnyRequest) -> TenantRef | BaseHost:
    host = request.scope.get("state", {}).get("tenant")
    return host if isinstance(host, TenantRef) else BASE


def _language() -> str:
    language = current_language()
    return language if language in LANGUAGES else "en"


def _static(request: AnyRequest, file: shell.StaticFile, cache: str) -> Response[bytes]:
    headers = {
        "Cache-Control": cache,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    body = file.body
    if file.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = file.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=file.media_type, headers=headers)


@get(
    PAGE_PATHS, summary="The app's page (client-side routes)", tags=["app"], include_in_schema=False, roles=allow(ANYONE))
async def page(request: AnyRequest) -> Response[bytes]:
    host = _host(request)
    language = _language()
    boot: dict[str, object] = {
        "host": "tenant" if isinstance(host, TenantRef) else "base",
        "tenant": {"slug": host.slug, "name": host.name} if isinstance(host, TenantRef) else None,
        "lang": language,
        "languages": list(LANGUAGES),
        "theme": theme_colour(host),
    }
    html = shell.render_index(language, theme_colour(host), boot)
    if html is None:
        raise _not_built()
    headers = {"Cache-Control": NO_CACHE, **SECURITY_HEADERS}
    return Response(html, media_type="text/html", headers=headers)


@get("/assets/{name:str}", summary="A built asset", tags=["app"], include_in_schema=False, roles=allow(ANYONE))
async def asset(request: AnyRequest, name: str) -> Response[bytes]:
    if not shell.is_built():
        raise _not_built()
    file = shell.safe_file("assets", name)
    if file is None:
        raise NotFound(_("No such file."))
    return _static(request, file, IMMUTABLE)


@get("/sw.js", summary="The service worker", tags=["app"], include_in_schema=False, roles=allow(ANYONE))
async def service_worker(request: AnyRequest) -> Response[bytes]:
    file = shell.safe_file("", "sw.js") if shell.is_built() else None
    if file is None:
        raise _not_built()
    return _static(request, file, NO_CACHE)


@get("/manifest.webmanifest", summary="The web app manifest", tags=["app"], include_in_schema=False, roles=allow(ANYONE))
async def web_manifest(request: AnyRequest) -> Response[dict[str, object]]:
    body = manifest(_host(request), _language())
    return Response(
        body, media_type="application/manifest+json", headers={"Cache-Control": NO_CACHE}
    )


ICONS = {
    "icon-192.png": (192, False),
    "icon-512.png": (512, False),
    "maskable-512.png": (512, True),
}


@get("/icons/{name:str}", summary="An app icon", tags=["app"], include_in_schema=False, roles=allow(ANYONE))
async def icon(request: AnyRequest, name: str) -> Response[bytes]:
    if name not in ICONS:
        raise NotFound(_("No such file."))
    size, maskable = ICONS[name]
    host = _host(request)
    png = icon_png(app_initials(host), theme_colour(host), size, maskable)
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


HANDLERS = [page, asset, service_worker, web_manifest, icon]
