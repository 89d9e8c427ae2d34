"""What handlers receive: the tenant, the principal and the actor, settled by the middleware."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler

from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import request_idempotency
from app.core.logs import request_id_var
from app.core.principal import Principal
from app.core.problems import Forbidden, NotFound, Unauthorized
from tenants.hosts import BaseHost
from tenants.registry import TenantRef

Connection = ASGIConnection[Any, Any, Any, Any]


def tenant_of(connection: Connection) -> TenantRef:
    tenant = connection.scope.get("state", {}).get("tenant")
    if not isinstance(tenant, TenantRef):
        raise NotFound(_("This page exists only on a WISP's portal."))
    return tenant


def principal_of(connection: Connection) -> Principal:
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthorized(_("Sign in first."))
    return principal


def client_ip(connection: Connection) -> str:
    client = connection.scope.get("client")
    return str(client[0]) if client else ""


def actor_of(connection: Connection) -> Actor:
    principal = connection.scope.get("user")
    ip = client_ip(connection)
    if isinstance(principal, Principal):
        return Actor(
            type=principal.kind,
            id=principal.id,
            label=principal.email or principal.name,
            ip=ip,
            request_id=request_id_var.get(),
            role=principal.acting_role,
        )
    return Actor(type="anonymous", ip=ip, request_id=request_id_var.get())


# Guards (async: Litestar runs a plain function guard in a thread pool, a hop per request) ---


async def on_tenant_host(connection: Connection, _handler: BaseRouteHandler) -> None:
    tenant_of(connection)


async def on_base_host(connection: Connection, _handler: BaseRouteHandler) -> None:
    if not isinstance(connection.scope.get("state", {}).get("tenant"), BaseHost):
        raise NotFound(_("Sign up on the main site, not on a WISP's portal."))


async def signed_in(connection: Connection, _handler: BaseRouteHandler) -> None:
    principal_of(connection)


async def with_session(connection: Connection, _handler: BaseRouteHandler) -> None:
    """For a person's own session and for identity administration: API tokens may not."""
    principal_of(connection)
    if not connection.scope.get("state", {}).get("session_id"):
        raise Forbidden(_("Sign in as a person to do this; an API token cannot."))


# Dependencies -------------------------------------------------------------------------------


async def _tenant(request: Connection) -> TenantRef:
    return tenant_of(request)


async def _principal(request: Connection) -> Principal:
    return principal_of(request)


async def _actor(request: Connection) -> Actor:
    return actor_of(request)


DEPENDENCIES = {
    "idempotency": Provide(request_idempotency),
    "tenant": Provide(_tenant),
    "principal": Provide(_principal),
    "actor": Provide(_actor),
}
