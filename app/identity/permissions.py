"""The role × route table: who may call each route. One place, read by one guard.

Every registered route must appear here (a test walks the app's routes); a route missing from
the table is refused to everyone. Duties follow the product overview: the manager may do
everything (in a small WISP the owner does every job) and alone manages staff, rate plans, API
tokens and the audit log; sales handles subscribers and their work orders; customer service
answers tickets and reads subscribers; finance handles invoices, payments, billing runs,
exports and suspensions; technical handles work orders, gateways and the network.
"""

from __future__ import annotations

from collections.abc import Iterable

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.i18n import _
from app.identity.roles import Role
from app.identity.sessions import Principal
from app.problems import Forbidden, Unauthorized

ANYONE = "anyone"
SUBSCRIBER = "subscriber"

M, S, CS, F, T = (
    Role.MANAGER.value,
    Role.SALES.value,
    Role.CUSTOMER_SERVICE.value,
    Role.FINANCE.value,
    Role.TECHNICAL.value,
)
ALL_STAFF = frozenset({M, S, CS, F, T})


def only(*who: Iterable[str] | str) -> frozenset[str]:
    out: set[str] = set()
    for w in who:
        out |= {w} if isinstance(w, str) else set(w)
    return frozenset(out)


ROUTES: dict[str, frozenset[str]] = {
    # platform
    "GET /health": only(ANYONE),
    "GET /ready": only(ANYONE),
    "POST /api/v1/signup": only(ANYONE),
    # sign-in and own account
    "POST /api/v1/auth/login": only(ANYONE),
    "POST /api/v1/auth/logout": only(ALL_STAFF, SUBSCRIBER),
    "GET /api/v1/auth/me": only(ALL_STAFF),
    # staff management
    "GET /api/v1/staff": only(M),
    # development only (registered when the mail catcher runs)
    "GET /dev/mail": only(ANYONE),
    "GET /dev/mail/{mail_id:str}": only(ANYONE),
}

# The API documentation is public on every host.
PUBLIC_PREFIXES = ("/schema",)


def route_key(method: str, path_template: str) -> str:
    return f"{method.upper()} {path_template}"


def allowed(method: str, path_template: str) -> frozenset[str] | None:
    if path_template.startswith(PUBLIC_PREFIXES):
        return frozenset({ANYONE})
    return ROUTES.get(route_key(method, path_template))


def principal_role(principal: Principal) -> str:
    return principal.role if principal.kind == "staff" else SUBSCRIBER


def authorize(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """The app-wide guard: 401 when a sign-in is needed, 403 when the role may not."""
    scope = connection.scope
    who = allowed(str(scope.get("method", "GET")), str(scope.get("path_template", "")))
    if who is None:
        raise Forbidden(_("Your role does not allow this."))
    if ANYONE in who:
        return
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthorized(_("Sign in first."))
    if principal_role(principal) not in who:
        raise Forbidden(_("Your role does not allow this."))
