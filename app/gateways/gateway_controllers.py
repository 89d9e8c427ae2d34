"""The gateway protocol, `/gateway/v1`, on the base host or the gateway's own tenant host.

These routes are open to anyone in the role table: a gateway is not a staff member. Each one
but `enroll` takes the `gateway` dependency, which refuses a call without a live secret
(401 problem+json) and names the tenant from the secret; the secret is checked again against
the gateway's row inside the transaction of the work itself.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide

from app.core.roles import ANYONE, allow
from app.gateways import commands, enrollment, portal, sync, telemetry
from app.gateways.credentials import GatewayCredential, credential_of, host_tenant
from app.gateways.schemas import (
    AckIn,
    AckOut,
    EnrollIn,
    EnrollOut,
    LinkTestOut,
    LinkTestReport,
    PortalDecision,
    PortalIn,
    RotateOut,
    StateOut,
    TelemetryIn,
    TelemetryOut,
)
from tenants.context import client_ip

Req = Request[Any, Any, Any]


async def _gateway(request: Req) -> GatewayCredential:
    return await credential_of(request)


class GatewayProtocolController(Controller):
    path = "/gateway/v1"
    tags = ["gateway protocol"]
    dependencies = {"gateway": Provide(_gateway)}

    @post(
        "/enroll",
        status_code=200,
        summary="Spend an enrollment token for a secret",
        roles=allow(ANYONE),
    )
    async def enroll(self, request: Req, data: EnrollIn) -> EnrollOut:
        return await enrollment.enroll(data, host_tenant(request), client_ip(request))

    @post(
        "/rotate",
        status_code=200,
        summary="A new secret; the current one works 10 more minutes",
        roles=allow(ANYONE),
    )
    async def rotate(self, gateway: GatewayCredential) -> RotateOut:
        return await enrollment.rotate(gateway)

    @get(
        "/state",
        summary="Desired state: full, or changes since a version (long poll)",
        roles=allow(ANYONE),
    )
    async def state(
        self,
        request: Req,
        gateway: GatewayCredential,
        since: int | None = None,
        wait: int = 0,
        epoch: int | None = None,
    ) -> StateOut:
        return await sync.state(gateway, since, wait, epoch, request.receive)

    @post(
        "/ack",
        status_code=200,
        summary="What the gateway applied, and what failed",
        roles=allow(ANYONE),
    )
    async def ack(self, gateway: GatewayCredential, data: AckIn) -> AckOut:
        return await sync.ack(gateway, data)

    @post(
        "/telemetry",
        status_code=200,
        summary="Sequence-numbered traffic and load samples",
        roles=allow(ANYONE),
        # Up to 1000 samples, each with per-subscriber usage: more than the API's 1 MiB.
        request_max_body_size=4 * 1024 * 1024,
    )
    async def telemetry(self, gateway: GatewayCredential, data: TelemetryIn) -> TelemetryOut:
        return await telemetry.ingest(gateway, data)

    @post(
        "/portal", status_code=200, summary="Captive-portal decision for a MAC", roles=allow(ANYONE)
    )
    async def portal(self, gateway: GatewayCredential, data: PortalIn) -> PortalDecision:
        return await portal.decide(gateway, data.mac)

    @post(
        "/commands/{command_id:str}/result",
        status_code=200,
        summary="A command's result",
        roles=allow(ANYONE),
    )
    async def command_result(
        self, gateway: GatewayCredential, command_id: str, data: LinkTestReport
    ) -> LinkTestOut:
        return await commands.post_result(gateway, command_id, data)
