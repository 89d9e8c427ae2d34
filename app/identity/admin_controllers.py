"""API tokens and the audit log: manager-only administration of a tenant's access."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import Parameter

from app.core.audit import Actor
from app.core.idempotency import IdempotencyKey
from app.core.roles import Role, allow
from app.identity import api_tokens, audit_log
from app.identity.schemas import ApiTokenCreated, ApiTokenIn, ApiTokenList, AuditPage
from tenants.context import on_tenant_host, with_session
from tenants.registry import TenantRef


class ApiTokenController(Controller):
    path = "/api/v1/api-tokens"
    # Only a person manages tokens: a leaked token must not be able to mint more of them.
    guards = [on_tenant_host, with_session]
    tags = ["api-tokens"]

    @post(
        "",
        status_code=201,
        summary="Create an API token for a role (shown once)",
        roles=allow(Role.MANAGER),
    )
    async def create(
        self,
        idempotency: IdempotencyKey | None,
        data: ApiTokenIn,
        tenant: TenantRef,
        actor: Actor,
    ) -> ApiTokenCreated:
        return await api_tokens.create(tenant, data, actor, idempotency)

    @get("", summary="Live API tokens, newest first (no secrets)", roles=allow(Role.MANAGER))
    async def list_tokens(self, tenant: TenantRef) -> ApiTokenList:
        return ApiTokenList(items=await api_tokens.list_active(tenant))

    @delete(
        "/{token_id:str}",
        status_code=204,
        summary="Revoke an API token at once",
        roles=allow(Role.MANAGER),
    )
    async def revoke(self, token_id: str, tenant: TenantRef, actor: Actor) -> None:
        await api_tokens.revoke(tenant, token_id, actor)


class AuditLogController(Controller):
    path = "/api/v1/audit-log"
    guards = [on_tenant_host]
    tags = ["audit-log"]

    @get("", summary="The audit log, newest first", roles=allow(Role.MANAGER))
    async def list_events(
        self,
        tenant: TenantRef,
        limit: int = Parameter(default=50, ge=1, le=200),
        cursor: str | None = None,
        actor_id: str | None = None,
        action: str | None = Parameter(
            default=None, max_length=80, description="Matches actions starting with this text"
        ),
        since: str | None = Parameter(default=None, description="ISO 8601, inclusive"),
        until: str | None = Parameter(default=None, description="ISO 8601, exclusive"),
    ) -> AuditPage:
        filters = audit_log.Filters(
            actor_id=actor_id, action=action, since=since, until=until, cursor=cursor
        )
        items, next_cursor = await audit_log.query(tenant, filters, limit)
        return AuditPage(items=items, next_cursor=next_cursor)
