"""`Idempotency-Key` on signup, which creates a tenant rather than a row inside one.

The key's record lives in the new tenant's own schema (the registry keeps no per-request rows),
written just after the signup commits. A retry with the key finds the tenant by its slug and,
when the record is there and matches, answers what the first request answered instead of "this
address is already taken". A retry racing the first request, before its record is written, gets
that 409: either way the slug's uniqueness means a second tenant is never created.

The request is compared without the password (a fast hash of it next to the email would be
worth cracking); the answer it replays holds only the slug and the portal address.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar.connection import ASGIConnection

from app.core.i18n import _
from app.core.idempotency import HEADER, IdempotencyKey, KeyReused
from app.signup import validation
from app.signup.schemas import SignupIn, SignupOut
from tenants.registry import tenant_by_slug
from tenants.scope import tenant_scope


def key_for(
    connection: ASGIConnection[Any, Any, Any, Any], data: SignupIn
) -> IdempotencyKey | None:
    clean = validation.normalise(data)
    compared = msgspec.structs.asdict(clean)
    compared.pop("password")
    raw = connection.headers.get(HEADER)
    if raw is None:
        return None
    fingerprint = hashlib.sha256(msgspec.json.encode(compared)).hexdigest()
    return IdempotencyKey.of(connection, raw, fingerprint)


async def replay(data: SignupIn, key: IdempotencyKey) -> SignupOut | None:
    """The first answer for this key, if its tenant exists and recorded it."""
    clean = validation.normalise(data)
    if validation.signup_errors(clean):
        return None  # the signup itself says what is wrong
    tenant = await tenant_by_slug(clean.slug)
    if tenant is None:
        return None
    async with tenant_scope(tenant) as scope:
        row = await scope.connection.fetchrow(
            "SELECT request_hash, response FROM idempotency_record WHERE key = $1", key.key
        )
    if row is None or row["response"] is None:
        return None
    if row["request_hash"] != key.request_hash:
        raise KeyReused(_("This Idempotency-Key was already used for a different request."))
    return msgspec.json.decode(row["response"], type=SignupOut)


async def remember(out: SignupOut, key: IdempotencyKey) -> None:
    tenant = await tenant_by_slug(out.slug)
    if tenant is None:
        return
    async with tenant_scope(tenant, idempotency=key) as scope:
        await scope.remember(msgspec.to_builtins(out))
