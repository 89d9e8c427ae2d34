from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post

from app.core.audit import Actor
from app.core.config import get_settings
from app.core.idempotency import IdempotencyKey
from app.core.principal import Principal
from app.core.roles import ANYONE, STAFF, allow
from app.identity.passkeys import actions
from app.identity.passkeys.ceremony import rp_id_for
from app.identity.passkeys.schemas import (
    CredentialIn,
    PasskeyList,
    PasskeyOnlyIn,
    PasskeyOnlyOut,
    PasskeyOut,
    RegistrationIn,
)
from app.identity.schemas import MeOut, me_out
from app.identity.sessions import session_cookie
from tenants.context import on_tenant_host
from tenants.registry import TenantRef

AnyRequest = Request[Any, Any, Any]


def _options(body: str) -> Response[bytes]:
    # Sent exactly as `webauthn.options_to_json` wrote it, for `parse*OptionsFromJSON`.
    return Response(body.encode(), media_type=MediaType.JSON, headers={"Cache-Control": "no-store"})


class PasskeyController(Controller):
    path = "/api/v1/auth"
    guards = [on_tenant_host]
    tags = ["passkeys"]

    @post(
        "/passkeys/registration/options",
        status_code=200,
        summary="Start registering a passkey (WebAuthn creation options)",
        roles=allow(STAFF),
    )
    async def registration_options(
        self, request: AnyRequest, tenant: TenantRef, principal: Principal
    ) -> Response[bytes]:
        rp_id = rp_id_for(request.headers.get("host"))
        return _options(await actions.registration_options(tenant, principal, rp_id))

    @post(
        "/passkeys/registration", status_code=201, summary="Register a passkey", roles=allow(STAFF)
    )
    async def register(
        self,
        idempotency: IdempotencyKey | None,
        request: AnyRequest,
        data: RegistrationIn,
        tenant: TenantRef,
        principal: Principal,
        actor: Actor,
    ) -> PasskeyOut:
        rp_id = rp_id_for(request.headers.get("host"))
        return await actions.register(tenant, principal, actor, rp_id, data, idempotency)

    @post(
        "/passkeys/authentication/options",
        status_code=200,
        summary="Start signing in with a passkey (WebAuthn request options)",
        roles=allow(ANYONE),
    )
    async def authentication_options(
        self, request: AnyRequest, tenant: TenantRef
    ) -> Response[bytes]:
        rp_id = rp_id_for(request.headers.get("host"))
        return _options(await actions.authentication_options(tenant, rp_id))

    @post(
        "/passkeys/authentication",
        status_code=200,
        summary="Sign in with a passkey",
        roles=allow(ANYONE),
    )
    async def authenticate(
        self, request: AnyRequest, data: CredentialIn, tenant: TenantRef, actor: Actor
    ) -> Response[MeOut]:
        rp_id = rp_id_for(request.headers.get("host"))
        session_id, principal = await actions.authenticate(tenant, actor, rp_id, data)
        secure = get_settings().public_scheme == "https"
        return Response(me_out(principal, tenant), cookies=[session_cookie(session_id, secure)])

    @get("/passkeys", summary="Your passkeys", roles=allow(STAFF))
    async def list_passkeys(self, tenant: TenantRef, principal: Principal) -> PasskeyList:
        items, passkey_only = await actions.list_own(tenant, principal)
        return PasskeyList(items=items, passkey_only=passkey_only)

    @delete(
        "/passkeys/{passkey_id:str}",
        status_code=204,
        summary="Remove one of your passkeys",
        roles=allow(STAFF),
    )
    async def remove(
        self, passkey_id: str, tenant: TenantRef, principal: Principal, actor: Actor
    ) -> None:
        await actions.remove(tenant, principal, actor, passkey_id)

    @patch(
        "/passkey-only",
        summary="Sign in with passkeys only, or allow the password again",
        roles=allow(STAFF),
    )
    async def passkey_only(
        self, data: PasskeyOnlyIn, tenant: TenantRef, principal: Principal, actor: Actor
    ) -> PasskeyOnlyOut:
        enabled = await actions.set_passkey_only(tenant, principal, actor, data.enabled)
        return PasskeyOnlyOut(enabled=enabled)
