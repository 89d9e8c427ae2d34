"""Commands for gateways: the CPE link test.

Staff ask for a test on a subscriber; the next state answer of a gateway serving that
subscriber carries it (a waiting long poll is woken for it); the gateway runs it and posts the
result. A pending command goes to the first serving gateway that asks (one conditional UPDATE,
so two gateways never both take it); it is repeated in that gateway's answers until the result
arrives or it expires, so an agent that restarts mid-test is asked again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import uuid
from typing import Any

import msgspec

from app.core import audit
from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Conflict, Invalid, NotFound
from app.core.timeutil import iso, now
from app.gateways import wakeups
from app.gateways.access import SUBSCRIBER_SITE, serving_gateways
from app.gateways.credentials import GatewayCredential, verify
from app.gateways.schemas import (
    CommandOut,
    LinkTestIn,
    LinkTestOut,
    LinkTestReport,
    LinkTestResult,
)
from app.gateways.tables import GatewayCommand
from app.plans.access import parse_id
from app.subscribers.access import access_subscriber
from tenants.registry import TenantRef
from tenants.scope import current_scope, tenant_scope

LINK_TEST = "link_test"
COMMAND_LIFETIME = dt.timedelta(minutes=10)
MAX_PINGS = 50
OPEN = ("pending", "delivered")


def _status(row: Any) -> str:
    if row["status"] in OPEN and row["expires_at"] <= now():
        return "expired"
    return str(row["status"])


def _json(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) else raw


def link_test_out(row: Any) -> LinkTestOut:
    result = _json(row["result"])
    return LinkTestOut(
        id=str(row["id"]),
        subscriber_id=str(row["subscriber"]),
        status=_status(row),
        gateway_id=str(row["gateway"]) if row["gateway"] else None,
        created_at=iso(row["created_at"]),
        delivered_at=iso(row["delivered_at"]) if row["delivered_at"] else None,
        completed_at=iso(row["completed_at"]) if row["completed_at"] else None,
        result=msgspec.convert(result, LinkTestResult) if result else None,
    )


def _clean(data: LinkTestIn) -> dict[str, Any]:
    errors: dict[str, str] = {}
    address = None
    if data.address is not None:
        try:
            address = str(ipaddress.ip_address(data.address.strip()))
        except ValueError:
            errors["address"] = _("Enter an IP address, such as 10.0.0.20.")
    if not 1 <= data.count <= MAX_PINGS:
        errors["count"] = _("Use 1 to {n} pings.").format(n=MAX_PINGS)
    if errors:
        raise Invalid(errors)
    return {"address": address, "count": data.count, "throughput": data.throughput}


async def request_link_test(
    tenant: TenantRef,
    subscriber_id: str,
    data: LinkTestIn,
    actor: Actor,
    idempotency: IdempotencyKey | None,
) -> LinkTestOut:
    params = _clean(data)
    async with tenant_scope(tenant, idempotency=idempotency) as scope:
        if scope.replayed:
            return msgspec.convert(scope.replay, LinkTestOut)
        subscriber = await access_subscriber(subscriber_id)
        if not subscriber["cpe_mac"] or subscriber["status"] == "cancelled":
            raise Conflict(_("This subscriber has no installed CPE to test."))
        if not await serving_gateways(subscriber["id"]):
            raise Conflict(_("No enrolled gateway serves this subscriber."))
        command_id, at = uuid.uuid4(), now()
        await GatewayCommand.insert(
            GatewayCommand(
                id=command_id,
                subscriber=subscriber["id"],
                kind=LINK_TEST,
                params=params,
                status="pending",
                requested_by=actor.id,
                requested_by_label=actor.label,
                created_at=at,
                expires_at=at + COMMAND_LIFETIME,
            )
        )
        await audit.record(
            actor, "link_test.requested", "subscriber", subscriber["id"], command_id=str(command_id)
        )
        row = await GatewayCommand.select().where(GatewayCommand.id == command_id).first()
        out = link_test_out(row)
        await scope.remember(out)
        tenant_id = tenant.id

        async def wake() -> None:
            await wakeups.poke(tenant_id)

        scope.after_commit(wake)
    return out


async def list_link_tests(tenant: TenantRef, subscriber_id: str) -> list[LinkTestOut]:
    async with tenant_scope(tenant):
        subscriber = await access_subscriber(subscriber_id)
        rows = (
            await GatewayCommand.select()
            .where(GatewayCommand.subscriber == subscriber["id"])
            .order_by(GatewayCommand.created_at, ascending=False)
            .limit(50)
        )
    return [link_test_out(r) for r in rows]


async def commands_for(gateway_id: uuid.UUID, sites: list[uuid.UUID]) -> list[CommandOut]:
    """Take the pending commands this gateway serves and repeat its unfinished ones (scope)."""
    conn = current_scope().connection
    served = "TRUE" if not sites else f"{SUBSCRIBER_SITE} = ANY($2::uuid[])"
    rows = await conn.fetch(
        "WITH taken AS (UPDATE gateway_command c SET status = 'delivered', gateway = $1,"
        " delivered_at = now() WHERE c.id IN (SELECT c2.id FROM gateway_command c2"
        " JOIN subscriber s ON s.id = c2.subscriber WHERE c2.status = 'pending'"
        f" AND c2.expires_at > now() AND {served} FOR UPDATE OF c2 SKIP LOCKED)"
        " RETURNING c.id) SELECT c.id, c.kind, c.params, c.subscriber, s.cpe_mac"
        " FROM gateway_command c JOIN subscriber s ON s.id = c.subscriber"
        " WHERE (c.id IN (SELECT id FROM taken)) OR (c.gateway = $1 AND c.status = 'delivered'"
        " AND c.expires_at > now()) ORDER BY c.created_at",
        gateway_id,
        *([sites] if sites else []),
    )
    out = []
    for r in rows:
        params = _json(r["params"]) or {}
        count = int(params.get("count", 10))
        throughput = bool(params.get("throughput", False))
        out.append(
            CommandOut(
                id=str(r["id"]),
                kind=r["kind"],
                subscriber_id=str(r["subscriber"]),
                mac=r["cpe_mac"],
                address=params.get("address"),
                count=count,
                throughput=throughput,
                timeout_s=count + 15 + (20 if throughput else 0),
            )
        )
    return out


async def post_result(
    credential: GatewayCredential, command_id: str, result: LinkTestReport
) -> LinkTestOut:
    """Record a result; posting it again changes nothing."""
    cid = parse_id(command_id)
    async with tenant_scope(credential.tenant):
        gateway = await verify(credential)
        row = None
        if cid is not None:
            row = (
                await GatewayCommand.select()
                .where(GatewayCommand.id == cid, GatewayCommand.gateway == gateway["id"])
                .lock_rows()
                .first()
            )
        if row is None:
            raise NotFound(_("No such command for this gateway."))
        if row["status"] == "delivered":
            clean = msgspec.structs.replace(result, error=result.error[:500])
            status = "done" if clean.ok else "failed"
            await GatewayCommand.update(
                {
                    GatewayCommand.status: status,
                    GatewayCommand.completed_at: now(),
                    GatewayCommand.result: msgspec.json.encode(clean).decode(),
                }
            ).where(GatewayCommand.id == cid)
            await audit.record(
                credential.actor(gateway["name"]),
                "link_test.completed",
                "subscriber",
                row["subscriber"],
                command_id=str(cid),
                ok=clean.ok,
            )
            row = await GatewayCommand.select().where(GatewayCommand.id == cid).first()
    return link_test_out(row)
