"""Staff routes: gateways, their tokens and telemetry; link tests and enforcement per
subscriber; and the public captive-portal pages on the tenant host."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from app.core.audit import Actor
from app.core.i18n import _
from app.core.idempotency import IdempotencyKey
from app.core.problems import Invalid
from app.core.roles import ANYONE, STAFF, Role, allow
from app.gateways import actions, commands, portal, sync
from app.gateways.gateway_controllers import GatewayProtocolController
from app.gateways.schemas import (
    EnforcementOut,
    EnrollmentTokenOut,
    GatewayCreated,
    GatewayIn,
    GatewayOut,
    GatewayPage,
    GatewayPatch,
    LinkTestIn,
    LinkTestOut,
    LinkTestPage,
    SamplePage,
)
from app.gateways.wakeups import close_hub
from tenants.context import on_tenant_host
from tenants.registry import TenantRef

Req = Request[Any, Any, Any]
ONE = "/{gateway_id:str}"


def _since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid({"since": _("Use an ISO 8601 time, such as 2030-01-15T10:00:00Z.")}) from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


class GatewayController(Controller):
    path = "/api/v1/gateways"
    guards = [on_tenant_host]
    tags = ["gateways"]

    @post(
        "",
        status_code=201,
        summary="Add a gateway; answers its one-time enrollment token",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def create(
        self, idempotency: IdempotencyKey | None, data: GatewayIn, tenant: TenantRef, actor: Actor
    ) -> GatewayCreated:
        return await actions.create_gateway(tenant, data, actor, idempotency)

    @get(
        "",
        summary="Gateways, by name, with status, versions and lag",
        roles=allow(Role.MANAGER, Role.CUSTOMER_SERVICE, Role.TECHNICAL),
    )
    async def list_gateways(self, tenant: TenantRef) -> GatewayPage:
        return GatewayPage(items=await actions.list_gateways(tenant))

    @get(
        ONE,
        summary="One gateway: status, last seen, versions, lag, failures",
        roles=allow(Role.MANAGER, Role.CUSTOMER_SERVICE, Role.TECHNICAL),
    )
    async def get_gateway(self, tenant: TenantRef, gateway_id: str) -> GatewayOut:
        return await actions.get_gateway(tenant, gateway_id)

    @patch(
        ONE,
        summary="Rename a gateway or change the sites it serves",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def update(
        self, tenant: TenantRef, gateway_id: str, data: GatewayPatch, actor: Actor
    ) -> GatewayOut:
        return await actions.update_gateway(tenant, gateway_id, data, actor)

    @post(
        ONE + "/enrollment-token",
        status_code=201,
        summary="A new enrollment token (the previous unused one stops working)",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def issue_token(
        self, idempotency: IdempotencyKey | None, tenant: TenantRef, gateway_id: str, actor: Actor
    ) -> EnrollmentTokenOut:
        return await actions.issue_token(tenant, gateway_id, actor, idempotency)

    @delete(
        ONE + "/enrollment-token",
        status_code=204,
        summary="Revoke the unused token",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def revoke_token(self, tenant: TenantRef, gateway_id: str, actor: Actor) -> None:
        await actions.revoke_token(tenant, gateway_id, actor)

    @post(
        ONE + "/revoke",
        status_code=200,
        summary="End the gateway's credential now",
        roles=allow(Role.MANAGER, Role.TECHNICAL),
    )
    async def revoke(self, tenant: TenantRef, gateway_id: str, actor: Actor) -> GatewayOut:
        return await actions.revoke_gateway(tenant, gateway_id, actor)

    @get(
        ONE + "/telemetry",
        summary="Telemetry samples, newest first",
        roles=allow(Role.MANAGER, Role.CUSTOMER_SERVICE, Role.TECHNICAL),
    )
    async def telemetry(
        self,
        tenant: TenantRef,
        gateway_id: str,
        since: str | None = None,
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> SamplePage:
        return SamplePage(
            items=await actions.list_samples(tenant, gateway_id, _since(since), limit)
        )


class SubscriberNetworkController(Controller):
    """The gateways' side of a subscriber: link tests and what the network enforces."""

    path = "/api/v1/subscribers"
    guards = [on_tenant_host]
    tags = ["subscribers"]

    @post(
        "/{subscriber_id:str}/link-test",
        status_code=202,
        summary="Ask the serving gateway to test the CPE link (ping, optionally throughput)",
        roles=allow(Role.MANAGER, Role.CUSTOMER_SERVICE, Role.TECHNICAL),
    )
    async def link_test(
        self,
        idempotency: IdempotencyKey | None,
        subscriber_id: str,
        tenant: TenantRef,
        actor: Actor,
        data: LinkTestIn | None = None,
    ) -> LinkTestOut:
        body = data or LinkTestIn()
        return await commands.request_link_test(tenant, subscriber_id, body, actor, idempotency)

    @get(
        "/{subscriber_id:str}/link-tests",
        summary="The subscriber's link tests, newest first",
        roles=allow(STAFF),
    )
    async def link_tests(self, tenant: TenantRef, subscriber_id: str) -> LinkTestPage:
        return LinkTestPage(items=await commands.list_link_tests(tenant, subscriber_id))

    @get(
        "/{subscriber_id:str}/enforcement",
        summary="Whether every serving gateway enforces the subscriber's current state",
        roles=allow(STAFF),
    )
    async def enforcement(self, tenant: TenantRef, subscriber_id: str) -> EnforcementOut:
        return await sync.enforcement(tenant, subscriber_id)


@get(
    "/captive/{page:str}",
    guards=[on_tenant_host],
    summary="Captive-portal page (non-payment, suspended, data cap, circuit failure, ...)",
    include_in_schema=False,
    roles=allow(ANYONE),
)
async def captive_page(tenant: TenantRef, page: str, lang: str | None = None) -> Response[str]:
    return portal.render(tenant, page, lang)


HANDLERS = [GatewayController, SubscriberNetworkController, GatewayProtocolController, captive_page]
ON_SHUTDOWN = [close_hub]
