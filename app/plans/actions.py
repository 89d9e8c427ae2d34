"""Rate plan actions (manager only): one transaction each, audited."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from app.core import audit
from app.core.audit import Actor
from app.core.db import refuse_if_referenced
from app.core.events import emit
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Conflict, Invalid
from app.core.timeutil import iso, now
from app.plans.access import access_plan
from app.plans.events import PlanSpeedsChanged
from app.plans.money import amount_str, parse_amount, parse_percent
from app.plans.schemas import PlanIn, PlanOut, PlanPatch
from app.plans.tables import RatePlan
from tenants.registry import TenantRef
from tenants.scope import tenant_scope

MAX_KBPS = 10_000_000  # 10 Gb/s
CAP_ACTIONS = ("block", "throttle")
SPEED_FIELDS = ("download_kbps", "upload_kbps")


def plan_out(row: dict[str, Any]) -> PlanOut:
    return PlanOut(
        id=str(row["id"]),
        name=row["name"],
        download_kbps=row["download_kbps"],
        upload_kbps=row["upload_kbps"],
        monthly_price=amount_str(row["monthly_price"]) or "0.00",
        currency=row["currency"],
        setup_fee=amount_str(row["setup_fee"]),
        tax_rate=amount_str(row["tax_rate"]),
        data_cap_gb=row["data_cap_gb"],
        cap_action=row["cap_action"],
        throttle_download_kbps=row["throttle_download_kbps"],
        throttle_upload_kbps=row["throttle_upload_kbps"],
        archived=row["archived_at"] is not None,
        archived_at=iso(row["archived_at"]) if row["archived_at"] else None,
        created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]),
    )


def _speed(value: Any, field: str, errors: dict[str, str]) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 1 <= value <= MAX_KBPS:
        errors[field] = _("Use a whole number of kb/s from 1 to 10000000.")
        return None
    return value


def clean_plan(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate a whole plan (a new one, or an existing one with a patch applied)."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    name = str(raw["name"]).strip()
    if not 1 <= len(name) <= 120:
        errors["name"] = _("Use 1 to 120 characters.")
    clean["name"] = name
    for field in SPEED_FIELDS:
        clean[field] = _speed(raw[field], field, errors)
    price = raw["monthly_price"]
    clean["monthly_price"] = (
        parse_amount(price, errors, "monthly_price") if isinstance(price, str) else price
    )
    fee = raw.get("setup_fee")
    clean["setup_fee"] = parse_amount(fee, errors, "setup_fee") if isinstance(fee, str) else fee
    tax = raw.get("tax_rate")
    clean["tax_rate"] = parse_percent(tax, errors, "tax_rate") if isinstance(tax, str) else tax
    cap = raw.get("data_cap_gb")
    if cap is not None and not (isinstance(cap, int) and 1 <= cap <= 1_000_000):
        errors["data_cap_gb"] = _("Use a whole number of GB from 1 to 1000000.")
    clean["data_cap_gb"] = cap
    action = raw.get("cap_action")
    if cap is None and action is not None:
        errors["cap_action"] = _("Set a data cap first, or leave this empty.")
    elif cap is not None and action not in CAP_ACTIONS:
        errors["cap_action"] = _("Choose block or throttle.")
    clean["cap_action"] = action
    for field in ("throttle_download_kbps", "throttle_upload_kbps"):
        speed = _speed(raw.get(field), field, errors)
        if action == "throttle" and speed is None and field not in errors:
            errors[field] = _("Give the speed to throttle to.")
        elif action != "throttle" and speed is not None:
            errors[field] = _("Only a plan that throttles at its cap has throttle speeds.")
        full = clean.get(field.removeprefix("throttle_"))
        if speed is not None and full is not None and speed >= full:
            errors[field] = _("Throttle to less than the plan's own speed.")
        clean[field] = speed
    if errors:
        raise Invalid(errors)
    return clean


async def _check_name_free(name: str, except_id: uuid.UUID | None = None) -> None:
    query = RatePlan.exists().where(
        WhereRaw("lower(name) = lower({})", name), RatePlan.archived_at.is_null()
    )
    if except_id is not None:
        query = query.where(RatePlan.id != except_id)
    if await query:
        raise Conflict(_("A rate plan with this name already exists."), field="name")


def _audit_values(clean: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in clean.items()}


async def create_plan(
    tenant: TenantRef, data: PlanIn, actor: Actor, idempotency: IdempotencyKey | None = None
) -> PlanOut:
    clean = clean_plan(msgspec.structs.asdict(data))
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, PlanOut)
        await _check_name_free(clean["name"])
        plan_id = uuid.uuid4()
        at = now()
        await RatePlan.insert(
            RatePlan(id=plan_id, currency=tenant.currency, created_at=at, updated_at=at, **clean)
        )
        await audit.record(
            actor,
            "rate_plan.create",
            "rate_plan",
            plan_id,
            currency=tenant.currency,
            **_audit_values(clean),
        )
        out = plan_out(await access_plan(plan_id))
        await scope.remember(msgspec.to_builtins(out))
    return out


async def update_plan(tenant: TenantRef, plan_id: str, data: PlanPatch, actor: Actor) -> PlanOut:
    """Speeds that change reach the gateways for every live subscriber on the plan."""
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    async with tenant_scope(tenant):
        # NO KEY UPDATE, not UPDATE: a plan change holding its subscriber needs a key-share
        # lock on this plan (its foreign keys), which FOR UPDATE would make it wait for while
        # we wait for that subscriber below: a deadlock. Nothing here changes the plan's key.
        row = await access_plan(plan_id, for_update=True, strength="NO KEY UPDATE")
        merged = {**row, **changes}
        clean = clean_plan(merged)
        changed: dict[Any, Any] = {k: v for k, v in clean.items() if row[k] != v}
        if not changed:
            return plan_out(row)
        if "name" in changed:
            await _check_name_free(clean["name"], except_id=row["id"])
        await RatePlan.update({**changed, "updated_at": now()}).where(RatePlan.id == row["id"])
        updated = await access_plan(row["id"])
        if any(f in changed for f in SPEED_FIELDS):
            await emit(PlanSpeedsChanged(updated))
        await audit.record(
            actor,
            "rate_plan.update",
            "rate_plan",
            row["id"],
            before={k: _audit_values(row)[k] for k in changed},
            after=_audit_values(changed),
        )
        return plan_out(updated)


async def archive_plan(tenant: TenantRef, plan_id: str, actor: Actor) -> PlanOut:
    """Archived plans stay on their subscribers but cannot be chosen for new ones."""
    async with tenant_scope(tenant):
        row = await access_plan(plan_id, for_update=True)
        if row["archived_at"] is None:
            await RatePlan.update({RatePlan.archived_at: now(), RatePlan.updated_at: now()}).where(
                RatePlan.id == row["id"]
            )
            await audit.record(actor, "rate_plan.archive", "rate_plan", row["id"], name=row["name"])
        return plan_out(await access_plan(row["id"]))


async def delete_plan(tenant: TenantRef, plan_id: str, actor: Actor) -> None:
    """Only a plan nobody ever had can go; one in use is archived instead."""
    async with tenant_scope(tenant):
        row = await access_plan(plan_id, for_update=True)
        # Subscribers and plan changes point to their plans (ON DELETE RESTRICT).
        with refuse_if_referenced(
            _("This rate plan is in use: archive it instead of deleting it.")
        ):
            await RatePlan.delete().where(RatePlan.id == row["id"])
        await audit.record(actor, "rate_plan.delete", "rate_plan", row["id"], name=row["name"])


async def list_plans(tenant: TenantRef, include_archived: bool = False) -> list[PlanOut]:
    async with tenant_scope(tenant):
        query = RatePlan.select().order_by(RatePlan.name).order_by(RatePlan.id)
        if not include_archived:
            query = query.where(RatePlan.archived_at.is_null())
        return [plan_out(r) for r in await query]


async def get_plan(tenant: TenantRef, plan_id: str) -> PlanOut:
    async with tenant_scope(tenant):
        return plan_out(await access_plan(plan_id))
