from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter

from app.core.audit import Actor
from app.core.config import get_settings
from app.core.idempotency import IdempotencyKey
from app.core.principal import Principal
from app.core.roles import ANYONE, STAFF, SUBSCRIBER, Role, allow
from app.core.timeutil import iso
from app.identity import actions, invitations, management, recovery
from app.identity.admin_controllers import ApiTokenController, AuditLogController
from app.identity.passkeys.controllers import PasskeyController
from app.identity.schemas import (
    AcceptInvitationIn,
    InvitationIn,
    InvitationList,
    InvitationOut,
    LoginIn,
    LogoutEverywhereOut,
    MeOut,
    Page,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    StaffOut,
    StaffPatchIn,
    me_out,
)
from app.identity.sessions import session_cookie
from tenants.context import on_tenant_host, with_session
from tenants.registry import TenantRef

AnyRequest = Request[Any, Any, State]


def _signed_out() -> Response[None]:
    secure = get_settings().public_scheme == "https"
    return Response(None, status_code=204, cookies=[session_cookie("", secure, max_age=0)])


class AuthController(Controller):
    path = "/api/v1/auth"
    guards = [on_tenant_host]
    tags = ["auth"]

    @post("/login", status_code=200, summary="Sign in with email and password", roles=allow(ANYONE))
    async def login(self, data: LoginIn, tenant: TenantRef, actor: Actor) -> Response[MeOut]:
        session_id, principal = await actions.login(tenant, data.email, data.password, actor)
        secure = get_settings().public_scheme == "https"
        return Response(me_out(principal, tenant), cookies=[session_cookie(session_id, secure)])

    @get("/me", summary="Who is signed in", roles=allow(STAFF))
    async def me(self, principal: Principal, tenant: TenantRef) -> MeOut:
        return me_out(principal, tenant)

    @post(
        "/logout",
        status_code=204,
        summary="Sign out",
        guards=[with_session],
        roles=allow(STAFF, SUBSCRIBER),
    )
    async def logout(
        self,
        request: Request[Principal, None, State],
        principal: Principal,
        tenant: TenantRef,
        actor: Actor,
    ) -> Response[None]:
        await actions.logout(tenant, request.state.session_id, principal, actor)
        return _signed_out()

    @post(
        "/logout-everywhere",
        status_code=200,
        summary="Sign out on every device, this one included",
        guards=[with_session],
        roles=allow(STAFF, SUBSCRIBER),
    )
    async def logout_everywhere(
        self, principal: Principal, tenant: TenantRef, actor: Actor
    ) -> Response[LogoutEverywhereOut]:
        ended = await actions.logout_everywhere(tenant, principal, actor)
        secure = get_settings().public_scheme == "https"
        return Response(
            LogoutEverywhereOut(sessions_ended=ended),
            cookies=[session_cookie("", secure, max_age=0)],
        )

    @post(
        "/password",
        status_code=204,
        summary="Change your password; your other sessions end",
        guards=[with_session],
        roles=allow(STAFF),
    )
    async def change_password(
        self, data: PasswordChangeIn, principal: Principal, tenant: TenantRef, actor: Actor
    ) -> None:
        await actions.change_password(
            tenant, principal, data.current_password, data.new_password, actor
        )

    @post(
        "/password-reset",
        status_code=202,
        summary="Mail a password-reset link (the same answer for any address)",
        roles=allow(ANYONE),
    )
    async def request_reset(self, data: PasswordResetIn, tenant: TenantRef, actor: Actor) -> None:
        await recovery.request_reset(tenant, data.email, actor)

    @post(
        "/password-reset/confirm",
        status_code=204,
        summary="Choose a new password with a reset link; every session ends",
        roles=allow(ANYONE),
    )
    async def confirm_reset(
        self, data: PasswordResetConfirmIn, tenant: TenantRef, actor: Actor
    ) -> None:
        await recovery.confirm_reset(tenant, data.token, data.password, actor)

    @post(
        "/invitations/accept",
        status_code=201,
        summary="Accept a staff invitation: creates your user; then sign in",
        roles=allow(ANYONE),
    )
    async def accept_invitation(
        self,
        idempotency: IdempotencyKey | None,
        data: AcceptInvitationIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> StaffOut:
        return staff_out(await invitations.accept(tenant, data, actor, idempotency))


def staff_out(row: dict[str, object]) -> StaffOut:
    last = row["last_login_at"]
    return StaffOut(
        id=str(row["id"]),
        email=str(row["email"]),
        name=str(row["name"]),
        role=str(row["role"]),
        is_active=bool(row["is_active"]),
        created_at=iso(row["created_at"]),
        last_login_at=iso(last) if last else None,
    )


class StaffController(Controller):
    path = "/api/v1/staff"
    guards = [on_tenant_host]
    tags = ["staff"]

    @get("", summary="List staff, by email", roles=allow(Role.MANAGER))
    async def list_staff(
        self,
        tenant: TenantRef,
        limit: int = Parameter(default=50, ge=1, le=200),
        cursor: str | None = None,
        role: str | None = None,
        active: bool | None = None,
    ) -> Page:
        rows = await actions.list_staff(
            tenant, limit=limit, after_email=cursor, role=role, active=active
        )
        items = [staff_out(r) for r in rows]
        return Page(items=items, next_cursor=items[-1].email if len(items) == limit else None)

    @patch(
        "/{user_id:str}",
        summary="Change a user's role or name",
        guards=[with_session],
        roles=allow(Role.MANAGER),
    )
    async def update(
        self, user_id: str, data: StaffPatchIn, tenant: TenantRef, actor: Actor
    ) -> StaffOut:
        return staff_out(await management.update_staff(tenant, user_id, data, actor))

    @post(
        "/{user_id:str}/deactivate",
        status_code=200,
        summary="Deactivate a user; their sessions end at once",
        guards=[with_session],
        roles=allow(Role.MANAGER),
    )
    async def deactivate(self, user_id: str, tenant: TenantRef, actor: Actor) -> StaffOut:
        return staff_out(await management.deactivate(tenant, user_id, actor))

    @post(
        "/{user_id:str}/reactivate",
        status_code=200,
        summary="Reactivate a user",
        guards=[with_session],
        roles=allow(Role.MANAGER),
    )
    async def reactivate(self, user_id: str, tenant: TenantRef, actor: Actor) -> StaffOut:
        return staff_out(await management.reactivate(tenant, user_id, actor))

    @get("/invitations", summary="Pending invitations, newest first", roles=allow(Role.MANAGER))
    async def list_invitations(self, tenant: TenantRef) -> InvitationList:
        return InvitationList(items=await invitations.list_pending(tenant))

    @post(
        "/invitations",
        status_code=201,
        summary="Invite someone to the staff by email",
        guards=[with_session],
        roles=allow(Role.MANAGER),
    )
    async def invite(
        self,
        idempotency: IdempotencyKey | None,
        data: InvitationIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> InvitationOut:
        return await invitations.invite(tenant, data, actor, idempotency)

    @delete(
        "/invitations/{invitation_id:str}",
        status_code=204,
        summary="Revoke an invitation",
        guards=[with_session],
        roles=allow(Role.MANAGER),
    )
    async def revoke_invitation(self, invitation_id: str, tenant: TenantRef, actor: Actor) -> None:
        await invitations.revoke(tenant, invitation_id, actor)


HANDLERS = [
    AuthController,
    StaffController,
    PasskeyController,
    ApiTokenController,
    AuditLogController,
]
