"""The request's context, settled once before any handler runs.

For every request: a request id, the tenant from the Host header (unknown host → 404, suspended
tenant → 403), the signed-in principal from the session cookie, and the language. No database
transaction is opened here: actions open the tenant scope themselves, so a handler's error
rolls its own transaction back.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.core.i18n import _, negotiate, set_language
from app.core.logs import request_id_var, tenant_var
from app.core.problems import PROBLEM_JSON
from app.identity import api_tokens, sessions
from tenants import hosts
from tenants.registry import TenantRef

log = logging.getLogger("wisp.request")

# Reachable on any host: load balancers probe by address.
HOSTLESS_PATHS = ("/health", "/ready")
# Gateways authenticate with secrets of their own, checked by their routes.
GATEWAY_PREFIX = "/gateway/"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        k, _sep, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _bearer(scope: Scope) -> str | None:
    """The credential of an `Authorization: Bearer …` header, or None without one."""
    raw = _header(scope, b"authorization")
    if raw is None:
        return None
    scheme, _sep, credential = raw.strip().partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else None


async def _send_problem(send: Any, status: int, slug: str, title: str, detail: str) -> None:
    body = json.dumps(
        {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        # A caller's id is kept only when it is a plain token: it is echoed in a header and logs.
        request_id = _header(scope, b"x-request-id") or ""
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
        request_id_var.set(request_id)
        tenant_var.set("")
        accept_language = _header(scope, b"accept-language")
        set_language(negotiate(None, None, accept_language))
        path: str = scope["path"]
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status_holder: dict[str, int] = {}

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        resolved = await hosts.resolve(_header(scope, b"host"))
        if path not in HOSTLESS_PATHS:
            if resolved is None:
                await _send_problem(
                    send_with_id,
                    404,
                    "unknown-host",
                    _("Not found"),
                    _("No WISP is served at this address."),
                )
                return
            if isinstance(resolved, TenantRef) and not resolved.is_active:
                set_language(negotiate(None, resolved.language, accept_language))
                await _send_problem(
                    send_with_id,
                    403,
                    "tenant-suspended",
                    _("Account suspended"),
                    _("This WISP's account is suspended. Please contact the service provider."),
                )
                return
        state["tenant"] = resolved
        if isinstance(resolved, TenantRef):
            tenant_var.set(resolved.slug)
            principal = None
            bearer = _bearer(scope) if not path.startswith(GATEWAY_PREFIX) else None
            if bearer is not None:
                # A bearer call is an integration: its token alone says who it is (any session
                # cookie is ignored), and a token that is not live is refused outright.
                principal = await api_tokens.resolve(resolved, bearer)
                if principal is None:
                    set_language(negotiate(None, resolved.language, accept_language))
                    await _send_problem(
                        send_with_id,
                        401,
                        "unauthorized",
                        _("Not signed in"),
                        _("This API token is not valid or was revoked."),
                    )
                    return
                scope["user"] = principal
            else:
                session_id = _cookie(scope, sessions.COOKIE)
                if session_id:
                    principal = await sessions.load(resolved, session_id)
                if principal is not None:
                    scope["user"] = principal
                    state["session_id"] = session_id
            set_language(
                negotiate(
                    principal.language if principal else None, resolved.language, accept_language
                )
            )
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s",
                scope.get("method"),
                path,
                extra={
                    "status": status_holder.get("status"),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


class BearerAwareCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, skipped for bearer calls that carry no session cookie.

    CSRF abuses a credential the browser attaches by itself (the session cookie). A bearer
    token is never attached by a browser on its own, so a request authenticated only by one
    has nothing to forge; with a session cookie present the check applies as usual.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and _bearer(scope)
            and _cookie(scope, sessions.COOKIE) is None
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
