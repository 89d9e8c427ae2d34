"""Signing a WISP up: registry row, schema and first manager in one transaction."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import asyncpg

from app.core import audit
from app.core.audit import Actor
from app.core.config import get_settings
from app.core.db import DB
from app.core.i18n import _
from app.core.jobs import enqueue
from app.core.problems import Conflict, Invalid
from app.core.roles import Role
from app.identity.actions import add_staff
from app.identity.passwords import hash_password_async
from app.signup import throttle as signup_throttle
from app.signup import validation
from app.signup.schemas import SignupIn, SignupOut
from tenants.confirmation import open_for
from tenants.provision import create_schema
from tenants.registry import Tenant, schema_for, tenant_by_slug

log = logging.getLogger(__name__)


def _slug_taken() -> Conflict:
    return Conflict(_("This address is already taken. Choose another one."), field="slug")


async def sign_up(data: SignupIn, actor: Actor, *, by_operator: bool = False) -> SignupOut:
    """Create the tenant. An anonymous signup is throttled per address and per email, and its
    owner's address stays unconfirmed until the welcome mail's link is followed;
    `by_operator` (the demo seed, run by whoever runs the server) skips both."""
    data = validation.normalise(data)
    errors = validation.signup_errors(data)
    if errors:
        raise Invalid(errors)
    if await tenant_by_slug(data.slug) is not None:
        raise _slug_taken()
    if not by_operator:
        await signup_throttle.claim(actor.ip, data.email)
    try:
        tenant_id, owner_id = await _create(data, actor, confirmed=by_operator)
    except BaseException:
        if not by_operator:
            await signup_throttle.release(actor.ip, data.email)
        raise
    await enqueue("signup.send_welcome", tenant_id, owner_id)
    log.info("tenant signed up", extra={"tenant": data.slug})
    return SignupOut(
        slug=data.slug,
        portal_url=get_settings().portal_url(data.slug),
        email_confirmed=by_operator,
    )


async def _create(data: SignupIn, actor: Actor, *, confirmed: bool) -> tuple[uuid.UUID, uuid.UUID]:
    """Registry row, schema, first manager and the owner's confirmation row: one transaction."""
    # Hash before the transaction: no connection or template lock is held for argon2's 100 ms.
    password_hash = await hash_password_async(data.password)
    tenant_id = uuid.uuid4()
    schema = schema_for(tenant_id)
    try:
        async with DB.transaction() as transaction:
            await Tenant.insert(
                Tenant(
                    id=tenant_id,
                    slug=data.slug,
                    name=data.company_name,
                    schema_name=schema,
                    language=data.language,
                    currency=data.currency,
                    timezone=data.timezone,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            await create_schema(transaction.connection, schema)
            owner_id = await populate(data, password_hash)
            await open_for(tenant_id, data.email, confirmed=confirmed)
            owner = Actor(
                type="staff",
                id=owner_id,
                label=data.email,
                ip=actor.ip,
                request_id=actor.request_id,
            )
            await audit.record(owner, "tenant.signup", "tenant", tenant_id, slug=data.slug)
    except asyncpg.UniqueViolationError as exc:
        if "slug" in str(exc.constraint_name or ""):
            raise _slug_taken() from None
        raise
    return tenant_id, owner_id


async def populate(data: SignupIn, password_hash: str) -> uuid.UUID:
    """What a new tenant starts with; runs with the new schema on the search path."""
    return await add_staff(
        data.email,
        data.company_name,
        Role.MANAGER.value,
        None,
        data.language,
        password_hash=password_hash,
    )
