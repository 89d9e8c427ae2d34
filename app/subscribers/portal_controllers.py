from __future__ import annotations

from litestar import Controller, Response, get, post

from app.core.audit import Actor
from app.core.config import get_settings
from app.core.inputs import Email, Input, Secret
from app.core.principal import Principal
from app.core.roles import ANYONE, SUBSCRIBER, allow
from app.identity.sessions import session_cookie
from app.subscribers import portal
from app.subscribers.portal import PortalMeOut
from tenants.context import on_tenant_host
from tenants.registry import TenantRef


class PortalAcceptIn(Input, forbid_unknown_fields=True):
    token: Secret
    password: Secret


class PortalLoginIn(Input, forbid_unknown_fields=True):
    email: Email
    password: Secret


def _signed_in(session_id: str, body: PortalMeOut) -> Response[PortalMeOut]:
    secure = get_settings().public_scheme == "https"
    return Response(body, cookies=[session_cookie(session_id, secure)])


class PortalController(Controller):
    """The subscriber portal's API; the route table admits subscriber sessions only."""

    path = "/api/v1/portal"
    guards = [on_tenant_host]
    tags = ["subscriber portal"]

    @post(
        "/invitations/accept",
        status_code=200,
        summary="Set the portal password with the emailed link, and sign in",
        roles=allow(ANYONE),
    )
    async def accept(
        self, data: PortalAcceptIn, tenant: TenantRef, actor: Actor
    ) -> Response[PortalMeOut]:
        session_id, principal = await portal.accept_invitation(
            tenant, data.token, data.password, actor
        )
        return _signed_in(session_id, await portal.me(tenant, principal))

    @post(
        "/auth/login",
        status_code=200,
        summary="Sign in to the subscriber portal",
        roles=allow(ANYONE),
    )
    async def login(
        self, data: PortalLoginIn, tenant: TenantRef, actor: Actor
    ) -> Response[PortalMeOut]:
        session_id, principal = await portal.login(tenant, data.email, data.password, actor)
        return _signed_in(session_id, await portal.me(tenant, principal))

    @get(
        "/me",
        summary="The signed-in subscriber's account, plan and status",
        roles=allow(SUBSCRIBER),
    )
    async def me(self, tenant: TenantRef, principal: Principal) -> PortalMeOut:
        return await portal.me(tenant, principal)
