"""API tokens for integrations: made by a manager for one role, shown once, stored hashed.

A token is sent as `Authorization: Bearer wisp_…` on the tenant's host; the middleware turns it
into a principal of kind "token" with the token's role, so the role × route table applies to
it as to a person with that role. Revocation is immediate: every call looks the hash up (no
cache). `last_used_at` is written at most once a minute per token (a Redis claim gates it), so
a busy integration does not turn every read into a write.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.principal import Principal
from app.core.problems import Invalid, NotFound
from app.core.redis import get_redis, key
from app.core.timeutil import iso, now
from app.identity.management import role_error
from app.identity.schemas import ApiTokenCreated, ApiTokenIn, ApiTokenOut
from app.identity.tables import ApiToken
from app.identity.tokens import API_TOKEN_PREFIX, matches, new_token, plausible, token_hash
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

TOKEN_KIND = "token"  # noqa: S105  (a principal kind, not a secret)
LAST_USED_EVERY = 60
HINT_LENGTH = len(API_TOKEN_PREFIX) + 4


def token_out(row: dict[str, Any]) -> ApiTokenOut:
    last = row["last_used_at"]
    return ApiTokenOut(
        id=str(row["id"]),
        name=row["name"],
        role=row["role"],
        hint=row["hint"],
        created_at=iso(row["created_at"]),
        last_used_at=iso(last) if last else None,
    )


async def create(
    tenant: TenantRef, data: ApiTokenIn, actor: Actor, idempotency: IdempotencyKey | None
) -> ApiTokenCreated:
    name = data.name.strip()
    errors = {}
    if not 1 <= len(name) <= 100:
        errors["name"] = _("Enter a name of 1 to 100 characters.")
    if problem := role_error(data.role):
        errors["role"] = problem
    if errors:
        raise Invalid(errors)
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, ApiTokenCreated)
        raw, digest = new_token(API_TOKEN_PREFIX)
        token_id = uuid.uuid4()
        created = now()
        await ApiToken.insert(
            ApiToken(
                id=token_id,
                name=name,
                role=data.role,
                token_hash=digest,
                hint=raw[:HINT_LENGTH],
                created_by=actor.id,
                created_at=created,
            )
        )
        await audit.record(
            actor, "api_token.created", "api_token", token_id, name=name, role=data.role
        )
        out = ApiTokenCreated(
            id=str(token_id),
            name=name,
            role=data.role,
            hint=raw[:HINT_LENGTH],
            created_at=iso(created),
            token=None,
        )
        # The stored answer (for a replayed Idempotency-Key) never holds the secret.
        await scope.remember(out)
    return msgspec.structs.replace(out, token=raw)


async def list_active(tenant: TenantRef) -> list[ApiTokenOut]:
    async with tenant_scope(tenant):
        rows = (
            await ApiToken.select()
            .where(ApiToken.revoked_at.is_null())
            .order_by(ApiToken.created_at, ascending=False)
            .order_by(ApiToken.id, ascending=False)
        )
    return [token_out(r) for r in rows]


async def revoke(tenant: TenantRef, token_id: str, actor: Actor) -> None:
    """Revoke at once; revoking a revoked token changes nothing."""
    try:
        tid = uuid.UUID(token_id)
    except ValueError:
        raise NotFound(_("No such API token.")) from None
    async with tenant_scope(tenant):
        row = await ApiToken.select().where(ApiToken.id == tid).lock_rows("UPDATE").first()
        if row is None:
            raise NotFound(_("No such API token."))
        if row["revoked_at"] is None:
            await ApiToken.update({ApiToken.revoked_at: now()}).where(ApiToken.id == tid)
            await audit.record(actor, "api_token.revoked", "api_token", tid, name=row["name"])


async def resolve(tenant: TenantRef, raw: str) -> Principal | None:
    """The principal of a live token of this tenant, or None (unknown, revoked, malformed)."""
    if not raw.startswith(API_TOKEN_PREFIX) or not plausible(raw):
        return None
    async with tenant_scope(tenant):
        row = (
            await ApiToken.select(ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.token_hash)
            .where(ApiToken.token_hash == token_hash(raw), ApiToken.revoked_at.is_null())
            .first()
        )
        if row is None or not matches(raw, row["token_hash"]):
            return None
        claim = key(tenant.id, "api-token-used", row["id"])
        if await get_redis().set(claim, "1", nx=True, ex=LAST_USED_EVERY):
            await ApiToken.update({ApiToken.last_used_at: now()}).where(ApiToken.id == row["id"])
    return Principal(
        kind=TOKEN_KIND,
        user_id=str(row["id"]),
        email="",
        name=row["name"],
        role=row["role"],
        language=None,
        created_at=0.0,
    )
