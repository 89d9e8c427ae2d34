from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from app.audit import Actor
from app.config import get_settings
from app.i18n import current_language
from app.identity import actions
from app.identity.schemas import LoginIn, MeOut, Page, StaffOut, TenantOut
from app.identity.sessions import Principal
from app.timeutil import iso
from app.web.deps import on_tenant_host
from app.web.middleware import session_cookie
from tenants.registry import TenantRef


def me_out(principal: Principal, tenant: TenantRef) -> MeOut:
    return MeOut(
        id=principal.user_id,
        email=principal.email,
        name=principal.name,
        role=principal.role,
        language=principal.language or current_language(),
        tenant=TenantOut(slug=tenant.slug, name=tenant.name),
    )


class AuthController(Controller):
    path = "/api/v1/auth"
    guards = [on_tenant_host]
    tags = ["auth"]

    @post("/login", status_code=200, summary="Sign in with email and password")
    async def login(self, data: LoginIn, tenant: TenantRef, actor: Actor) -> Response[MeOut]:
        session_id, principal = await actions.login(tenant, data.email, data.password, actor)
        secure = get_settings().public_scheme == "https"
        return Response(me_out(principal, tenant), cookies=[session_cookie(session_id, secure)])

    @get("/me", summary="Who is signed in")
    async def me(self, principal: Principal, tenant: TenantRef) -> MeOut:
        return me_out(principal, tenant)

    @post("/logout", status_code=204, summary="Sign out")
    async def logout(
        self,
        request: Request[Principal, None, State],
        principal: Principal,
        tenant: TenantRef,
        actor: Actor,
    ) -> Response[None]:
        await actions.logout(tenant, request.state.session_id, principal, actor)
        secure = get_settings().public_scheme == "https"
        return Response(None, status_code=204, cookies=[session_cookie("", secure, max_age=0)])


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

    @get("", summary="List staff, by email")
    async def list_staff(
        self,
        tenant: TenantRef,
        limit: int = Parameter(default=50, ge=1, le=200),
        cursor: str | None = None,
    ) -> Page:
        rows = await actions.list_staff(tenant, limit=limit, after_email=cursor)
        items = [staff_out(r) for r in rows]
        return Page(items=items, next_cursor=items[-1].email if len(items) == limit else None)
