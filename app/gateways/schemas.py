"""Bodies of the staff API (strict) and of the gateway protocol (lenient).

Staff input refuses unknown fields, as everywhere. Gateway protocol input ignores them: an
agent newer than the cloud may send more, and a field such as `tenant` in a body must never
matter (the tenant comes from the credential), so it is simply not read.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from app.core.inputs import MULTILINE, Id, Input, Moment, ShortName

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

U64 = Annotated[int, msgspec.Meta(ge=0)]
"""At most 2**64 - 1: checked by the ingest (msgspec bounds stop at int64)."""
Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Bytes = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Version = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Measure = Annotated[float, msgspec.Meta(ge=0, le=1e12)]
"""A link test's time in ms or rate in kb/s."""
AgentText = Annotated[str, msgspec.Meta(max_length=1000)]
"""An identifier an agent reports (stored cut to its column: agents may send more)."""
AgentError = Annotated[str, msgspec.Meta(max_length=4000, extra={MULTILINE: True})]
"""An error an agent reports: a tool's output may span lines (stored cut to its column)."""
IpAddress = Annotated[str, msgspec.Meta(max_length=64)]
SiteIds = Annotated[list[Id], msgspec.Meta(max_length=500)]


# Staff API ---------------------------------------------------------------------------------


class GatewayIn(Input, forbid_unknown_fields=True):
    name: ShortName
    site_ids: SiteIds = []


class GatewayPatch(Input, forbid_unknown_fields=True):
    name: ShortName | Unset = UNSET
    site_ids: SiteIds | Unset = UNSET


class Failure(msgspec.Struct):
    mac: str
    error: str
    id: str | None = None


class SampleOut(msgspec.Struct):
    seq: int
    ts: str
    interval_s: float
    rx_bytes: int
    tx_bytes: int
    rx_bps: int
    tx_bps: int
    users_authenticated: int
    users_connected: int
    cpu_percent: float
    mem_percent: float
    gap_before: int
    counter_reset: bool


class GatewayOut(msgspec.Struct):
    id: str
    name: str
    site_ids: list[str]
    status: str
    """`pending` (not enrolled yet), `online`, `offline` or `revoked`."""
    created_at: str
    enrolled_at: str | None
    hardware_id: str
    agent_version: str
    last_seen_at: str | None
    offline_since: str | None
    desired_version: int
    applied_version: int
    lag_versions: int
    lag_seconds: float
    """Age of the oldest change the gateway has not acknowledged (0 when in step)."""
    failures: list[Failure]
    enrollment_expires_at: str | None
    """When the live enrollment token expires (null when there is none)."""
    telemetry_gaps: int
    circuit_ok: bool
    latest_sample: SampleOut | None


class GatewayCreated(GatewayOut):
    enrollment_token: str | None
    """Shown once; null when an Idempotency-Key replays the answer."""
    expires_at: str


class GatewayPage(msgspec.Struct):
    items: list[GatewayOut]


class EnrollmentTokenOut(msgspec.Struct):
    gateway_id: str
    enrollment_token: str | None
    expires_at: str


class SamplePage(msgspec.Struct):
    items: list[SampleOut]


class EnforcementGateway(msgspec.Struct):
    gateway_id: str
    name: str
    applied_version: int
    enforced: bool
    """`enforce`: the gateway acknowledged the subscriber's current state (and its own
    current sites) without an error. `forget`: what it acknowledged no longer holds the
    subscriber."""
    error: str | None
    action: Literal["enforce", "forget"] = "enforce"
    """`enforce`: the gateway serves the subscriber's site and must hold its state. `forget`:
    it must not hold the subscriber (it moved away, was cancelled, or the gateway stopped
    serving its site) and once held it, or may still."""
    holds: bool = False
    """Whether the state this gateway acknowledged holds the subscriber (enabled or cut off)."""


class EnforcementOut(msgspec.Struct):
    subscriber_id: str
    desired_version: int | None
    """The version of the subscriber's latest desired state (null: never sent to gateways)."""
    enforced: bool
    """At least one gateway must hold the subscriber (unless it is to be forgotten), and every
    gateway listed has done what it must (`enforced` on each)."""
    gateways: list[EnforcementGateway]


class LinkTestIn(Input, forbid_unknown_fields=True):
    address: IpAddress | None = None
    """The CPE's IP address; by default the gateway finds it from the CPE's MAC."""
    count: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 10
    throughput: bool = False


class LinkTestResult(msgspec.Struct):
    """A link test's result as stored and shown."""

    ok: bool
    loss_percent: float | None = None
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    throughput_kbps: float | None = None
    address: str | None = None
    error: str = ""


class LinkTestReport(Input):
    """A link test's result as a gateway posts it (the same fields, bounded)."""

    ok: bool
    loss_percent: Percent | None = None
    rtt_min_ms: Measure | None = None
    rtt_avg_ms: Measure | None = None
    rtt_max_ms: Measure | None = None
    throughput_kbps: Measure | None = None
    address: AgentText | None = None
    error: AgentError = ""


class LinkTestOut(msgspec.Struct):
    id: str
    subscriber_id: str
    status: str
    """`pending`, `delivered`, `done`, `failed` or `expired`."""
    gateway_id: str | None
    created_at: str
    delivered_at: str | None
    completed_at: str | None
    result: LinkTestResult | None


class LinkTestPage(msgspec.Struct):
    items: list[LinkTestOut]


# Gateway protocol ----------------------------------------------------------------------------


class EnrollIn(Input):
    token: AgentText
    hardware_id: AgentText = ""
    agent_version: AgentText = ""


class EnrollOut(msgspec.Struct):
    gateway_id: str
    secret: str
    name: str
    tenant: str


class RotateOut(msgspec.Struct):
    secret: str
    previous_valid_until: str


class StateEntry(msgspec.Struct):
    """One subscriber in a state answer (the protocol's documentation; the answer itself is
    encoded by the database, see app.gateways.sync).

    An entry with no MAC, or disabled with no reason, is a removal: the gateway forgets the
    subscriber (cancelled, or moved to a site this gateway does not serve; such an entry has
    `mac` null and speeds 0)."""

    id: str
    mac: str | None
    enabled: bool
    reason: str | None
    download_kbps: int
    upload_kbps: int


class PortalInfo(msgspec.Struct):
    url: str
    """The tenant's portal, reachable by cut-off subscribers (the agent's walled garden)."""
    pages: dict[str, str]


class CommandOut(msgspec.Struct):
    id: str
    kind: str
    subscriber_id: str
    mac: str | None
    address: str | None
    count: int
    throughput: bool
    timeout_s: int


class StateOut(msgspec.Struct):
    version: int
    full: bool
    epoch: int
    subscribers: msgspec.Raw
    """A JSON array of StateEntry objects, encoded by the database."""
    portal: PortalInfo
    commands: list[CommandOut]


class AckFailure(Input):
    mac: AgentText = ""
    error: AgentError = ""
    id: AgentText | None = None


class AckIn(Input):
    version: Version
    failures: Annotated[list[AckFailure], msgspec.Meta(max_length=100_000)] = []


class AckOut(msgspec.Struct):
    applied_version: int
    desired_version: int


class UsageIn(Input):
    rx_bytes: Bytes
    tx_bytes: Bytes
    id: AgentText | None = None
    mac: AgentText | None = None


class SampleIn(Input):
    seq: Annotated[int, msgspec.Meta(ge=1, le=2**62)]
    wan_rx_bytes: U64
    wan_tx_bytes: U64
    ts: Moment | None = None
    counter_bits: Annotated[int, msgspec.Meta(ge=0, le=128)] = 64
    boot_id: AgentText = ""
    users_authenticated: Count = 0
    users_connected: Count = 0
    cpu_percent: Percent = 0.0
    mem_percent: Percent = 0.0
    circuit_ok: bool | None = None
    subscribers: Annotated[list[UsageIn], msgspec.Meta(max_length=100_000)] = []


class TelemetryIn(Input):
    samples: Annotated[list[SampleIn], msgspec.Meta(max_length=1000)]
    """At most MAX_SAMPLES (app.gateways.telemetry)."""


class UsageRejection(msgspec.Struct):
    """A per-subscriber amount the cloud did not count (the rest of the batch is taken)."""

    seq: int
    id: str | None
    mac: str | None
    reason: str
    """`not_served` (the subscriber is not behind this gateway's sites) or `implausible`
    (more than a 10 Gb/s line carries in the sample's interval)."""
    message: str


class TelemetryOut(msgspec.Struct, omit_defaults=True):
    accepted: int
    duplicates: int
    gaps: int
    last_seq: int
    usage_rejected: int = 0
    """How many per-subscriber amounts were not counted (only present when some were)."""
    rejections: list[UsageRejection] = []
    """The first 100 of them, with the reason."""


class PortalIn(Input):
    mac: AgentText


class PortalDecision(msgspec.Struct):
    action: str
    """`allow` or `redirect`."""
    url: str | None
    reason: str | None
