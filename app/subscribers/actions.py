"""Subscriber actions: create (with its installation work order), change, list, status.

Creating a subscriber opens its installation work order and its portal account in the same
transaction; the portal invitation is emailed by a job enqueued after the commit.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
from email_validator import EmailNotValidError, validate_email

from app import netstate
from app.core import audit
from app.core.audit import Actor
from app.core.events import emit
from app.core.i18n import LANGUAGES, _
from app.core.idempotency import IdempotencyKey
from app.core.jobs import enqueue_after_commit
from app.core.problems import Conflict, Invalid, NotFound
from app.core.timeutil import iso, now
from app.network.access import access_site
from app.network.actions import clean_coordinates
from app.plans.access import access_plan
from app.subscribers import status as st
from app.subscribers.access import access_subscriber, normalise_email
from app.subscribers.events import Installation, SubscribersAwaitInstallation
from app.subscribers.schemas import (
    CancelSubscriberIn,
    ResumeIn,
    SubscriberCreatedOut,
    SubscriberIn,
    SubscriberOut,
    SubscriberPatch,
    SuspendIn,
)
from app.subscribers.tables import Subscriber, SubscriberAccount, SubscriberStatusChange
from app.subscribers.timing import parse_occurred_at
from tenants.confirmation import require_confirmed
from tenants.registry import TenantRef
from tenants.scope import Scope, tenant_scope


def subscriber_out(row: Any) -> SubscriberOut:
    return SubscriberOut(**_out_fields(row))


def _out_fields(row: Any) -> dict[str, Any]:
    def opt_iso(value: Any) -> str | None:
        return iso(value) if value is not None else None

    def opt_str(value: Any) -> str | None:
        return str(value) if value is not None else None

    return {
        "id": str(row["id"]),
        "name": row["name"],
        "email": row["email"],
        "phone": row["phone"],
        "address": row["address"],
        "latitude": float(row["latitude"]) if row["latitude"] is not None else None,
        "longitude": float(row["longitude"]) if row["longitude"] is not None else None,
        "language": row["language"],
        "plan_id": str(row["plan"]),
        "site_id": opt_str(row["site"]),
        "access_point_id": opt_str(row["access_point"]),
        "cpe_mac": row["cpe_mac"],
        "status": row["status"],
        "suspension_reason": row["suspension_reason"],
        "billing_start_date": (
            row["billing_start_date"].isoformat() if row["billing_start_date"] else None
        ),
        "activated_at": opt_iso(row["activated_at"]),
        "cancelled_at": opt_iso(row["cancelled_at"]),
        "external_id": row["external_id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


async def clean_subscriber(raw: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """Validate the contact and service fields (shared by the API and the CSV import)."""
    clean: dict[str, Any] = {}
    name = str(raw["name"]).strip()
    if not 1 <= len(name) <= 200:
        errors["name"] = _("Use 1 to 200 characters.")
    clean["name"] = name
    email = normalise_email(str(raw["email"]))
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        errors["email"] = _("Enter a valid email address.")
    clean["email"] = email
    for field, limit in (("phone", 40), ("address", 300)):
        value = str(raw.get(field) or "").strip()
        if len(value) > limit:
            errors[field] = _("Use at most {limit} characters.").format(limit=limit)
        clean[field] = value
    clean["latitude"], clean["longitude"] = clean_coordinates(
        raw.get("latitude"), raw.get("longitude"), errors
    )
    language = raw.get("language")
    if language is not None and language not in LANGUAGES:
        errors["language"] = _("Choose English (en) or Spanish (es).")
    clean["language"] = language
    external_id = raw.get("external_id")
    if external_id is not None:
        external_id = str(external_id).strip() or None
        if external_id is not None and len(external_id) > 100:
            errors["external_id"] = _("Use at most 100 characters.")
    clean["external_id"] = external_id
    site_id = raw.get("site_id")
    clean["site"] = None
    if site_id is not None:
        try:
            clean["site"] = (await access_site(site_id))["id"]
        except NotFound:
            errors["site_id"] = _("No such site.")
    return clean


async def plan_for_new_subscriber(plan_id: object, errors: dict[str, str]) -> dict[str, Any] | None:
    try:
        plan = await access_plan(plan_id)
    except NotFound:
        errors["plan_id"] = _("No such rate plan.")
        return None
    if plan["archived_at"] is not None:
        errors["plan_id"] = _("This rate plan is archived; choose a current one.")
        return None
    return plan


async def check_unique(clean: dict[str, Any], except_id: uuid.UUID | None = None) -> None:
    for field in ("email", "external_id"):
        value = clean.get(field)
        if value is None:
            continue
        query = Subscriber.exists().where(getattr(Subscriber, field) == value)
        if except_id is not None:
            query = query.where(Subscriber.id != except_id)
        if await query:
            message = (
                _("Another subscriber already has this email address.")
                if field == "email"
                else _("Another subscriber already has this external id.")
            )
            raise Conflict(message, field=field)


def subscriber_rows(
    clean: dict[str, Any],
    plan_id: uuid.UUID,
    actor: Actor,
    *,
    status: str = st.PENDING,
    note: str = "created",
    extra: dict[str, Any] | None = None,
) -> tuple[Subscriber, SubscriberStatusChange, SubscriberAccount]:
    """The subscriber row, its first history row and its portal account, not yet inserted
    (the CSV import inserts many at once)."""
    subscriber_id, at = uuid.uuid4(), now()
    return (
        Subscriber(
            id=subscriber_id,
            plan=plan_id,
            status=status,
            created_at=at,
            updated_at=at,
            **clean,
            **(extra or {}),
        ),
        SubscriberStatusChange(
            id=uuid.uuid4(),
            subscriber=subscriber_id,
            from_status=None,
            to_status=status,
            note=note,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label,
            occurred_at=at,
            recorded_at=at,
        ),
        SubscriberAccount(id=uuid.uuid4(), subscriber=subscriber_id, created_at=at),
    )


async def insert_subscriber(
    scope: Scope,
    clean: dict[str, Any],
    plan_id: uuid.UUID,
    actor: Actor,
    *,
    status: str = st.PENDING,
    note: str = "created",
    extra: dict[str, Any] | None = None,
) -> uuid.UUID:
    """The subscriber row, its first history row and its portal account (inside the scope)."""
    subscriber, change, account = subscriber_rows(
        clean, plan_id, actor, status=status, note=note, extra=extra
    )
    await Subscriber.insert(subscriber)
    await SubscriberStatusChange.insert(change)
    await SubscriberAccount.insert(account)
    subscriber_id: uuid.UUID = subscriber.id
    return subscriber_id


def invite_after_commit(scope: Scope, subscriber_id: uuid.UUID) -> None:
    enqueue_after_commit(
        scope, "subscribers.send_portal_invitation", scope.tenant.id, subscriber_id
    )


async def create_subscriber(
    tenant: TenantRef, data: SubscriberIn, actor: Actor, idempotency: IdempotencyKey | None = None
) -> SubscriberCreatedOut:
    if len(data.notes) > 5000:
        raise Invalid({"notes": _("Use at most 5000 characters.")})
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, SubscriberCreatedOut)
        errors: dict[str, str] = {}
        clean = await clean_subscriber(msgspec.structs.asdict(data), errors)
        plan = await plan_for_new_subscriber(data.plan_id, errors)
        if errors:
            raise Invalid(errors)
        assert plan is not None
        await check_unique(clean)
        try:
            subscriber_id = await insert_subscriber(scope, clean, plan["id"], actor)
        except asyncpg.UniqueViolationError:
            raise Conflict(_("Another subscriber already has this email address.")) from None
        await audit.record(
            actor,
            "subscriber.create",
            "subscriber",
            subscriber_id,
            email=clean["email"],
            plan_id=str(plan["id"]),
        )
        work_order_id = uuid.uuid4()
        installation = Installation(subscriber_id, work_order_id, data.notes.strip())
        await emit(SubscribersAwaitInstallation([installation], actor))
        invite_after_commit(scope, subscriber_id)
        row = await access_subscriber(subscriber_id)
        out = SubscriberCreatedOut(
            **_out_fields(row), installation_work_order_id=str(work_order_id)
        )
        await scope.remember(msgspec.to_builtins(out))
    return out


async def update_subscriber(
    tenant: TenantRef, subscriber_id: str, data: SubscriberPatch, actor: Actor
) -> SubscriberOut:
    """Contact and service details; the plan, status and CPE change through their own routes."""
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    async with tenant_scope(tenant):
        row = await access_subscriber(subscriber_id, for_update=True)
        current = {**row, "site_id": row["site"]}
        errors: dict[str, str] = {}
        clean = await clean_subscriber({**current, **changes}, errors)
        if errors:
            raise Invalid(errors)
        changed: dict[Any, Any] = {k: v for k, v in clean.items() if row[k] != v}
        if changed:
            await check_unique(changed, except_id=row["id"])
            await Subscriber.update({**changed, "updated_at": now()}).where(
                Subscriber.id == row["id"]
            )
            if "site" in changed:
                # The new site's gateways take the subscriber, the old site's forget it.
                await netstate.follow([row["id"]])
            await audit.record(
                actor,
                "subscriber.update",
                "subscriber",
                row["id"],
                fields=sorted(changed),
            )
        return subscriber_out(await access_subscriber(row["id"]))


async def _status_action(
    tenant: TenantRef, idempotency: IdempotencyKey | None, run: Any
) -> SubscriberOut:
    """The status routes, with Idempotency-Key: the shared functions join this scope."""
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, SubscriberOut)
        out = subscriber_out(await run())
        await scope.remember(msgspec.to_builtins(out))
    return out


def _note(note: str) -> str:
    if len(note) > 500:
        raise Invalid({"note": _("Use at most 500 characters.")})
    return note.strip()


async def suspend(
    tenant: TenantRef, subscriber_id: str, data: SuspendIn, actor: Actor, key: IdempotencyKey | None
) -> SubscriberOut:
    note, at = _note(data.note), parse_occurred_at(data.occurred_at)
    return await _status_action(
        tenant,
        key,
        lambda: st.suspend(tenant, subscriber_id, data.reason, actor, note=note, occurred_at=at),
    )


async def resume(
    tenant: TenantRef, subscriber_id: str, data: ResumeIn, actor: Actor, key: IdempotencyKey | None
) -> SubscriberOut:
    note, at = _note(data.note), parse_occurred_at(data.occurred_at)
    return await _status_action(
        tenant, key, lambda: st.resume(tenant, subscriber_id, actor, note=note, occurred_at=at)
    )


async def cancel(
    tenant: TenantRef,
    subscriber_id: str,
    data: CancelSubscriberIn,
    actor: Actor,
    key: IdempotencyKey | None,
) -> SubscriberOut:
    note, at = _note(data.note), parse_occurred_at(data.occurred_at)
    return await _status_action(
        tenant, key, lambda: st.cancel(tenant, subscriber_id, actor, note=note, occurred_at=at)
    )


async def resend_invitation(
    tenant: TenantRef, subscriber_id: str, actor: Actor, idempotency: IdempotencyKey | None = None
) -> None:
    """Mail a fresh portal link; a retry with the same `Idempotency-Key` mails nothing more."""
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return
        row = await access_subscriber(subscriber_id)
        await require_confirmed(tenant, "subscribers")
        if row["status"] == st.CANCELLED:
            raise Conflict(_("This subscriber is cancelled."))
        account = (
            await SubscriberAccount.select()
            .where(SubscriberAccount.subscriber == row["id"])
            .first()
        )
        if account is not None and account["password_hash"] is not None:
            raise Conflict(_("This subscriber has already set a password."))
        await audit.record(actor, "subscriber.invite", "subscriber", row["id"])
        invite_after_commit(scope, row["id"])
        await scope.remember({"subscriber_id": str(row["id"])})
