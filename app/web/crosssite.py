"""Unsafe requests from another site are refused before anything else looks at them.

The double-submit CSRF token alone is not enough here: every tenant is a sibling subdomain of
the same base domain (anyone can sign one up), so a page on `evil.{BASE_DOMAIN}` is *same-site*
to `acme.{BASE_DOMAIN}`. SameSite=Lax cookies are sent on its POSTs, and it can plant a
`csrftoken` cookie of its choosing on the parent domain. What a browser cannot fake is where a
request comes from: `Sec-Fetch-Site` (every current browser) and `Origin` (sent on every
cross-origin request and on same-origin POSTs). An unsafe request whose `Sec-Fetch-Site` is
anything but same-origin, or whose `Origin` is not the host it was sent to, gets 403.

Clients that are not browsers (the gateway agent, integrations with API tokens, curl) send
neither header and pass on to the usual checks; gateways and the health probes are skipped.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.core.config import get_settings
from app.core.i18n import _
from app.identity import sessions
from app.web.middleware import (
    GATEWAY_PREFIX,
    HOSTLESS_PATHS,
    _bearer,
    _cookie,
    _header,
    _send_problem,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# `none`: the user opened the address themselves (typed, bookmarked); never a third party.
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def same_origin(origin: str, host: str | None, public_scheme: str) -> bool:
    """Whether the `Origin` header names the host the request was sent to."""
    if not host or origin == "null":
        return False
    try:
        sent_from = urlsplit(origin)
        sent_to = urlsplit(f"//{host}")
        from_port = sent_from.port or _default_port(sent_from.scheme)
        to_port = sent_to.port or _default_port(sent_from.scheme)
    except ValueError:
        return False
    if sent_from.scheme not in {"http", "https"} or sent_from.path not in {"", "/"}:
        return False
    if public_scheme == "https" and sent_from.scheme != "https":
        return False
    return (
        sent_from.hostname is not None
        and sent_from.hostname == sent_to.hostname
        and from_port == to_port
    )


def cross_site(scope: Scope) -> bool:
    """An unsafe browser request that another site (or a sibling tenant) sent."""
    if scope.get("method", "GET") in SAFE_METHODS:
        return False
    path: str = scope["path"]
    if path.startswith(GATEWAY_PREFIX) or path in HOSTLESS_PATHS:
        return False
    if _bearer(scope) and _cookie(scope, sessions.COOKIE) is None:
        return False  # a bearer token is never attached by a browser on its own
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in ALLOWED_FETCH_SITES:
        return True
    origin = _header(scope, b"origin")
    if origin is not None:
        public_scheme = get_settings().public_scheme
        return not same_origin(origin.strip(), _header(scope, b"host"), public_scheme)
    return False


class CrossSiteMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and cross_site(scope):
            await _send_problem(
                send,
                403,
                "cross-site-request",
                _("Not allowed"),
                _(
                    "This request came from another site and was refused. Open the portal "
                    "directly and try again."
                ),
            )
            return
        await self.app(scope, receive, send)
