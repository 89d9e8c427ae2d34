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
from app.web.deps import client_ip

Req = Request[Any, Any, Any]


async def _gateway(request: Req) -> GatewayCredential:
    return await credential_of(request)


class GatewayProtocolController(Controller):
    path = "/gateway/v1"
    tags = ["gateway protocol"]
    dependencies = {"gateway": Provide(_gateway)}

    @post("/enroll", status_code=200, summary="Spend an enrollment token for a secret")
    async def enroll(self, request: Req, data: EnrollIn) -> EnrollOut:
        return await enrollment.enroll(data, host_tenant(request), client_ip(request))

    @post("/rotate", status_code=200, summary="A new secret; the current one works 10 more minutes")
    async def rotate(self, gateway: GatewayCredential) -> RotateOut:
        return await enrollment.rotate(gateway)

    @get("/state", summary="Desired state: full, or changes since a version (long poll)")
    async def state(
        self,
        request: Req,
        gateway: GatewayCredential,
        since: int | None = None,
        wait: int = 0,
        epoch: int | None = None,
    ) -> StateOut:
        return await sync.state(gateway, since, wait, epoch, request.receive)

    @post("/ack", status_code=200, summary="What the gateway applied, and what failed")
    async def ack(self, gateway: GatewayCredential, data: AckIn) -> AckOut:
        return await sync.ack(gateway, data)

    @post(
        "/telemetry",
        status_code=200,
        summary="Sequence-numbered traffic and load samples",
        # Up to 1000 samples, each with per-subscriber usage: more than the API's 1 MiB.
        request_max_body_size=4 * 1024 * 1024,
    )
    async def telemetry(self, gateway: GatewayCredential, data: TelemetryIn) -> TelemetryOut:
        return await telemetry.ingest(gateway, data)

    @post("/portal", status_code=200, summary="Captive-portal decision for a MAC")
    async def portal(self, gateway: GatewayCredential, data: PortalIn) -> PortalDecision:
        return await portal.decide(gateway, data.mac)

    @post("/commands/{command_id:str}/result", status_code=200, summary="A command's result")
    async def command_result(
        self, gateway: GatewayCredential, command_id: str, data: LinkTestReport
    ) -> LinkTestOut:
        return await commands.post_result(gateway, command_id, data)
