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
    "POST /api/v1/signup/confirm": only(ANYONE),
    "POST /api/v1/signup/confirm/resend": only(M),
    # sign-in and own account
    "POST /api/v1/auth/login": only(ANYONE),
    "POST /api/v1/auth/logout": only(ALL_STAFF, SUBSCRIBER),
    "GET /api/v1/auth/me": only(ALL_STAFF),
    "POST /api/v1/auth/logout-everywhere": only(ALL_STAFF, SUBSCRIBER),
    "POST /api/v1/auth/password": only(ALL_STAFF),
    "POST /api/v1/auth/password-reset": only(ANYONE),
    "POST /api/v1/auth/password-reset/confirm": only(ANYONE),
    "POST /api/v1/auth/invitations/accept": only(ANYONE),
    # passkeys: anyone may sign in with one; staff manage their own
    "POST /api/v1/auth/passkeys/authentication/options": only(ANYONE),
    "POST /api/v1/auth/passkeys/authentication": only(ANYONE),
    "POST /api/v1/auth/passkeys/registration/options": only(ALL_STAFF),
    "POST /api/v1/auth/passkeys/registration": only(ALL_STAFF),
    "GET /api/v1/auth/passkeys": only(ALL_STAFF),
    "DELETE /api/v1/auth/passkeys/{passkey_id}": only(ALL_STAFF),
    "PATCH /api/v1/auth/passkey-only": only(ALL_STAFF),
    # staff management
    "GET /api/v1/staff": only(M),
    "PATCH /api/v1/staff/{user_id}": only(M),
    "POST /api/v1/staff/{user_id}/deactivate": only(M),
    "POST /api/v1/staff/{user_id}/reactivate": only(M),
    "GET /api/v1/staff/invitations": only(M),
    "POST /api/v1/staff/invitations": only(M),
    "DELETE /api/v1/staff/invitations/{invitation_id}": only(M),
    # API tokens and the audit log: the manager alone
    "GET /api/v1/api-tokens": only(M),
    "POST /api/v1/api-tokens": only(M),
    "DELETE /api/v1/api-tokens/{token_id}": only(M),
    "GET /api/v1/audit-log": only(M),
    # the PWA: its page on every client-side route, assets, service worker, manifest, icons
    "GET /": only(ANYONE),
    "GET /signin": only(ANYONE),
    "GET /signup": only(ANYONE),
    "GET /forgot": only(ANYONE),
    "GET /invite/{token}": only(ANYONE),
    "GET /reset/{token}": only(ANYONE),
    "GET /confirm/{token}": only(ANYONE),
    "GET /app": only(ANYONE),
    "GET /app/{rest}": only(ANYONE),
    "GET /portal": only(ANYONE),
    "GET /portal/{rest}": only(ANYONE),
    "GET /assets/{name}": only(ANYONE),
    "GET /sw.js": only(ANYONE),
    "GET /manifest.webmanifest": only(ANYONE),
    "GET /icons/{name}": only(ANYONE),
    # billing: finance and the manager
    "GET /api/v1/billing/settings": only(M, F),
    "PATCH /api/v1/billing/settings": only(M, F),
    "POST /api/v1/billing/runs": only(M, F),
    "GET /api/v1/billing/runs/{run_id}": only(M, F),
    "GET /api/v1/invoices": only(M, F),
    "GET /api/v1/invoices/{invoice_id}": only(M, F),
    "GET /api/v1/invoices/{invoice_id}/pdf": only(M, F),
    "POST /api/v1/invoices/{invoice_id}/void": only(M, F),
    "POST /api/v1/invoices/{invoice_id}/credit-notes": only(M, F),
    "GET /api/v1/payments": only(M, F),
    "POST /api/v1/payments": only(M, F),
    "POST /api/v1/payments/{payment_id}/reverse": only(M, F),
    "POST /api/v1/subscribers/{subscriber_id}/suspension-exemption": only(M),
    "GET /api/v1/reports/billing/subscribers": only(M, F),
    "GET /api/v1/reports/billing/aging": only(M, F),
    "GET /api/v1/reports/billing/exports/{kind}": only(M, F),
    # provisioning: rate plans (the manager sets them; every role reads them)
    "GET /api/v1/rate-plans": only(ALL_STAFF),
    "POST /api/v1/rate-plans": only(M),
    "GET /api/v1/rate-plans/{plan_id}": only(ALL_STAFF),
    "PATCH /api/v1/rate-plans/{plan_id}": only(M),
    "DELETE /api/v1/rate-plans/{plan_id}": only(M),
    "POST /api/v1/rate-plans/{plan_id}/archive": only(M),
    # network inventory: technical and the manager change it; every role reads it
    "GET /api/v1/sites": only(ALL_STAFF),
    "POST /api/v1/sites": only(M, T),
    "GET /api/v1/sites/{site_id}": only(ALL_STAFF),
    "PATCH /api/v1/sites/{site_id}": only(M, T),
    "DELETE /api/v1/sites/{site_id}": only(M, T),
    "GET /api/v1/access-points": only(ALL_STAFF),
    "POST /api/v1/access-points": only(M, T),
    "GET /api/v1/access-points/{ap_id}": only(ALL_STAFF),
    "PATCH /api/v1/access-points/{ap_id}": only(M, T),
    "DELETE /api/v1/access-points/{ap_id}": only(M, T),
    # subscribers: sales and the manager write; every role reads (a technician needs the
    # address, finance the account); suspensions are finance's and the manager's
    "GET /api/v1/subscribers": only(ALL_STAFF),
    "POST /api/v1/subscribers": only(M, S),
    "POST /api/v1/subscribers/import": only(M, S),
    "GET /api/v1/subscribers/{subscriber_id}": only(ALL_STAFF),
    "PATCH /api/v1/subscribers/{subscriber_id}": only(M, S),
    "GET /api/v1/subscribers/{subscriber_id}/history": only(ALL_STAFF),
    "POST /api/v1/subscribers/{subscriber_id}/suspend": only(M, F),
    "POST /api/v1/subscribers/{subscriber_id}/resume": only(M, F),
    "POST /api/v1/subscribers/{subscriber_id}/cancel": only(M, S),
    "GET /api/v1/subscribers/{subscriber_id}/plan-changes": only(ALL_STAFF),
    "POST /api/v1/subscribers/{subscriber_id}/plan-changes": only(M, S),
    "POST /api/v1/subscribers/{subscriber_id}/portal-invitation": only(M, S, CS),
    # work orders: sales opens and schedules them, technicians do them, the manager does all
    "GET /api/v1/work-orders": only(M, S, T),
    "POST /api/v1/work-orders": only(M, S, T),
    "GET /api/v1/work-orders/{work_order_id}": only(M, S, T),
    "POST /api/v1/work-orders/{work_order_id}/schedule": only(M, S, T),
    "POST /api/v1/work-orders/{work_order_id}/start": only(M, T),
    "POST /api/v1/work-orders/{work_order_id}/authenticate-cpe": only(M, T),
    "POST /api/v1/work-orders/{work_order_id}/activate": only(M, T),
    "POST /api/v1/work-orders/{work_order_id}/sign-off": only(M, T),
    "POST /api/v1/work-orders/{work_order_id}/cancel": only(M, S, T),
    "GET /api/v1/work-orders/{work_order_id}/notes": only(M, S, T),
    "POST /api/v1/work-orders/{work_order_id}/notes": only(M, S, T),
    "GET /api/v1/work-orders/{work_order_id}/photos": only(M, S, T),
    "POST /api/v1/work-orders/{work_order_id}/photos": only(M, S, T),
    "GET /api/v1/work-orders/{work_order_id}/photos/{photo_id}": only(M, S, T),
    # the subscriber portal: subscribers only (a staff session is never a subscriber)
    "POST /api/v1/portal/invitations/accept": only(ANYONE),
    "POST /api/v1/portal/auth/login": only(ANYONE),
    "GET /api/v1/portal/me": only(SUBSCRIBER),
    "GET /api/v1/portal/billing": only(SUBSCRIBER),
    "GET /api/v1/portal/billing/invoices/{invoice_id}/pdf": only(SUBSCRIBER),
    # gateways: technical and the manager run them; customer service reads their status
    "GET /api/v1/gateways": only(M, T, CS),
    "POST /api/v1/gateways": only(M, T),
    "GET /api/v1/gateways/{gateway_id}": only(M, T, CS),
    "PATCH /api/v1/gateways/{gateway_id}": only(M, T),
    "POST /api/v1/gateways/{gateway_id}/enrollment-token": only(M, T),
    "DELETE /api/v1/gateways/{gateway_id}/enrollment-token": only(M, T),
    "POST /api/v1/gateways/{gateway_id}/revoke": only(M, T),
    "GET /api/v1/gateways/{gateway_id}/telemetry": only(M, T, CS),
    # CPE link tests: support staff test the circuit when a subscriber reports no connection
    "POST /api/v1/subscribers/{subscriber_id}/link-test": only(M, T, CS),
    "GET /api/v1/subscribers/{subscriber_id}/link-tests": only(ALL_STAFF),
    "GET /api/v1/subscribers/{subscriber_id}/enforcement": only(ALL_STAFF),
    # captive-portal pages: shown to cut-off subscribers, who cannot sign in
    "GET /captive/{page}": only(ANYONE),
    # the gateway protocol: not staff routes. Each is authenticated by the gateway's own
    # secret (enroll: by its one-time token) in app/gateways, which refuses with 401.
    "POST /gateway/v1/enroll": only(ANYONE),
    "POST /gateway/v1/rotate": only(ANYONE),
    "GET /gateway/v1/state": only(ANYONE),
    "POST /gateway/v1/ack": only(ANYONE),
    "POST /gateway/v1/telemetry": only(ANYONE),
    "POST /gateway/v1/portal": only(ANYONE),
    "POST /gateway/v1/commands/{command_id}/result": only(ANYONE),
    # development only (registered when the mail catcher runs)
    "GET /dev/mail": only(ANYONE),
    "GET /dev/mail/{mail_id}": only(ANYONE),
}

# The API documentation is public on every host.
PUBLIC_PREFIXES = ("/schema",)


def route_key(method: str, path_template: str) -> str:
    return f"{method.upper()} {path_template}"


def allowed(method: str, path_template: str) -> frozenset[str] | None:
    if path_template.startswith(PUBLIC_PREFIXES):
        return frozenset({ANYONE})
    return ROUTES.get(route_key(method, path_template))


STAFF_KINDS = frozenset({"staff", "token"})
"""An API token acts with the staff role it was made for."""


def principal_role(principal: Principal) -> str:
    return principal.role if principal.kind in STAFF_KINDS else SUBSCRIBER


async def authorize(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
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
        from app.identity.audit_log import record_denied

        await record_denied(connection, principal)
        raise Forbidden(_("Your role does not allow this."))
