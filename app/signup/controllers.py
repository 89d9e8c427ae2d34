from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post

from app.core.audit import Actor
from app.core.roles import ANYONE, Role, allow
from app.signup import actions, confirmation, idempotency
from app.signup.schemas import ConfirmIn, ConfirmOut, SignupIn, SignupOut
from tenants.context import on_base_host, on_tenant_host
from tenants.registry import TenantRef


class SignupController(Controller):
    path = "/api/v1/signup"
    guards = [on_base_host]
    tags = ["signup"]

    @post("", status_code=201, summary="Sign a new WISP up", roles=allow(ANYONE))
    async def sign_up(
        self, request: Request[Any, Any, Any], data: SignupIn, actor: Actor
    ) -> SignupOut:
        key = idempotency.key_for(request, data)
        if key is not None and (first := await idempotency.replay(data, key)) is not None:
            return first
        out = await actions.sign_up(data, actor)
        if key is not None:
            await idempotency.remember(out, key)
        return out


class OwnerConfirmationController(Controller):
    """On the new tenant's own host: the welcome mail links to `{portal}/confirm/{token}`."""

    path = "/api/v1/signup/confirm"
    guards = [on_tenant_host]
    tags = ["signup"]

    @post(
        "",
        status_code=200,
        summary="Confirm the owner's email address with the mailed link",
        roles=allow(ANYONE),
    )
    async def confirm(self, data: ConfirmIn, tenant: TenantRef, actor: Actor) -> ConfirmOut:
        await confirmation.confirm(tenant, data.token, actor)
        return ConfirmOut(email_confirmed=True)

    @post(
        "/resend",
        status_code=202,
        summary="Mail the owner a new confirmation link",
        roles=allow(Role.MANAGER),
    )
    async def resend(self, tenant: TenantRef, actor: Actor) -> None:
        await confirmation.resend(tenant, actor)


HANDLERS = [SignupController, OwnerConfirmationController]
