"""The one app-wide guard: who may call each route, as its handler declares.

Every handler says who may call it where it is written: `@get("/x", roles=allow(...))`
(`app.core.roles`). This guard reads that declaration and refuses a handler that has none, so a
route nobody thought about is closed to everyone. `wisp routes` prints the whole role × route
table for audits, and a test fails if any route lacks a declaration.

Duties follow the product overview: the manager may do everything (in a small WISP the owner
does every job) and alone manages staff, rate plans, API tokens and the audit log; sales
handles subscribers and their work orders; customer service answers tickets and reads
subscribers; finance handles invoices, payments, billing runs, exports and suspensions;
technical handles work orders, gateways and the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.routes import HTTPRoute

from app.core.i18n import _
from app.core.principal import Principal
from app.core.problems import Forbidden, Unauthorized
from app.core.roles import ANYONE, Callers
from app.identity.audit_log import record_denied

PUBLIC_PREFIXES = ("/schema",)
"""The API documentation (Litestar's own handlers) is public on every host."""


def callers(handler: BaseRouteHandler) -> Callers | None:
    who = handler.opt.get("roles")
    return who if isinstance(who, frozenset) else None


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str
    roles: Callers | None


def route_table(app: Litestar) -> list[RouteAccess]:
    """Every route of the app with who may call it (None: nobody declared, refused to all)."""
    rows = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(PUBLIC_PREFIXES):
            continue
        for method, (handler, _kwargs) in route.route_handler_map.items():
            if method in ("OPTIONS", "HEAD"):
                continue
            rows.append(RouteAccess(method, route.path_format, callers(handler)))
    return sorted(rows, key=lambda r: (r.path, r.method))


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The app-wide guard: 401 when a sign-in is needed, 403 when the role may not."""
    if str(connection.scope.get("path_template", "")).startswith(PUBLIC_PREFIXES):
        return
    who = callers(handler)
    if who is None:
        raise Forbidden(_("Your role does not allow this."))
    if ANYONE in who:
        return
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthorized(_("Sign in first."))
    if principal.acting_role not in who:
        await record_denied(connection, principal)
        raise Forbidden(_("Your role does not allow this."))
