"""Tenant tables of the gateways domain.

Composite indexes (one site per gateway once, one sample per sequence number, time-series
order) are created by the raw migration `gateways: indexes`, since Piccolo declares only
single-column ones.
"""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Real,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from app.network.tables import Site
from app.subscribers.tables import Subscriber


class Gateway(Table, tablename="gateway"):
    """An access controller. Its secret is kept as a sha256 only; after a rotation the previous
    one keeps working until `previous_secret_expires_at`."""

    id = UUID(primary_key=True)
    name = Varchar(length=100)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    created_by = UUID(null=True, default=None)
    secret_hash = Varchar(length=64, null=True, default=None, unique=True)
    previous_secret_hash = Varchar(length=64, null=True, default=None)
    previous_secret_expires_at = Timestamptz(null=True, default=None)
    enrolled_at = Timestamptz(null=True, default=None)
    hardware_id = Varchar(length=200, default="")
    agent_version = Varchar(length=50, default="")
    revoked_at = Timestamptz(null=True, default=None)
    epoch = Integer(default=1)
    """Bumped when what the gateway serves changes (sites, a new enrollment): an agent that
    sends another epoch gets the full state, not a delta."""
    sites_version = BigInt(default=0)
    """The netstate version minted when its sites last changed: an agent that has seen only
    older versions gets the full state, and has applied its sites once it acknowledges this."""
    last_seen_at = Timestamptz(null=True, default=None)
    last_ip = Varchar(length=64, default="")
    online = Boolean(default=False)
    offline_since = Timestamptz(null=True, default=None)
    offline_alerted_at = Timestamptz(null=True, default=None)
    applied_version = BigInt(default=0)
    applied_at = Timestamptz(null=True, default=None)
    failures = JSONB(default=[])
    """What the last acknowledgement reported it could not apply: [{id, mac, error}]."""
    telemetry_seq = BigInt(default=0)
    telemetry_gaps = BigInt(default=0)
    """Samples never received (sequence numbers skipped), over the gateway's life."""
    boot_id = Varchar(length=64, default="")
    wan_rx_counter = Numeric(digits=(20, 0), null=True, default=None)
    """The last raw 64-bit counter (unsigned, so wider than BIGINT)."""
    wan_tx_counter = Numeric(digits=(20, 0), null=True, default=None)
    last_sample_at = Timestamptz(null=True, default=None)
    circuit_ok = Boolean(default=True)
    """The gateway's own view of its WAN circuit, from its telemetry."""


class GatewayEnrollmentToken(Table, tablename="gateway_enrollment_token"):
    id = UUID(primary_key=True)
    gateway = ForeignKey(Gateway, on_delete=OnDelete.cascade, index=True)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    created_by = UUID(null=True, default=None)
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class GatewaySite(Table, tablename="gateway_site"):
    """Which sites a gateway serves; a gateway with none serves every subscriber."""

    id = UUID(primary_key=True)
    gateway = ForeignKey(Gateway, on_delete=OnDelete.cascade, index=True)
    site = ForeignKey(Site, on_delete=OnDelete.restrict, index=True)


class GatewaySiteSet(Table, tablename="gateway_site_set"):
    """The sites a gateway serves from a netstate version on, one row per change: what a
    gateway that acknowledged an older version still holds is known from the set in force
    then (so staff see which gateways have not yet forgotten a subscriber)."""

    id = UUID(primary_key=True)
    gateway = ForeignKey(Gateway, on_delete=OnDelete.cascade, index=True)
    version = BigInt()
    site_ids = JSONB(default=[])
    created_at = Timestamptz()


class GatewayAck(Table, tablename="gateway_ack"):
    """Each acknowledgement that moved the applied version or changed the failures."""

    id = UUID(primary_key=True)
    gateway = ForeignKey(Gateway, on_delete=OnDelete.cascade, index=True)
    version = BigInt()
    failures = JSONB(default=[])
    received_at = Timestamptz()


class GatewayCommand(Table, tablename="gateway_command"):
    """A command for the gateway serving a subscriber (a CPE link test). Any serving gateway
    may take a pending one; once delivered it belongs to that gateway."""

    id = UUID(primary_key=True)
    subscriber = ForeignKey(Subscriber, on_delete=OnDelete.restrict, index=True)
    gateway = UUID(null=True, default=None, index=True)
    kind = Varchar(length=20)
    params = JSONB(default={})
    status = Varchar(length=12, index=True)
    requested_by = UUID(null=True, default=None)
    requested_by_label = Varchar(length=320, default="")
    created_at = Timestamptz()
    expires_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)
    result = JSONB(null=True, default=None)


class GatewaySample(Table, tablename="gateway_sample"):
    """One telemetry sample: the WAN bytes moved since the previous sample (counters already
    unwrapped), rates, users and load. Indexed by (gateway, ts) for graphs and (gateway, seq)
    unique so a duplicate is ignored."""

    id = UUID(primary_key=True)
    gateway = UUID()
    seq = BigInt()
    ts = Timestamptz()
    interval_s = Real(default=0)
    rx_bytes = BigInt(default=0)
    tx_bytes = BigInt(default=0)
    rx_bps = BigInt(default=0)
    tx_bps = BigInt(default=0)
    users_authenticated = Integer(default=0)
    users_connected = Integer(default=0)
    cpu_percent = Real(default=0)
    mem_percent = Real(default=0)
    gap_before = BigInt(default=0)
    """How many sequence numbers were skipped just before this sample."""
    counter_reset = Boolean(default=False)


class SubscriberUsage(Table, tablename="subscriber_usage"):
    """Bytes per subscriber per gateway per hour (UTC), for data caps over any billing cycle.
    Unique on (subscriber, gateway, hour); samples add to it."""

    id = UUID(primary_key=True)
    subscriber = UUID()
    gateway = UUID()
    hour = Timestamptz()
    rx_bytes = BigInt(default=0)
    tx_bytes = BigInt(default=0)


GATEWAY_TABLES: list[type[Table]] = [
    Gateway,
    GatewayEnrollmentToken,
    GatewaySite,
    GatewaySiteSet,
    GatewayAck,
    GatewayCommand,
    GatewaySample,
    SubscriberUsage,
]


DDL = (
    "CREATE UNIQUE INDEX gateway_site_pair ON gateway_site (gateway, site)",
    # Which sites a gateway served at a version: read newest first per gateway.
    "CREATE INDEX gateway_site_set_version ON gateway_site_set (gateway, version)",
    # A duplicate telemetry sample (a retry) is ignored by ON CONFLICT on this index.
    "CREATE UNIQUE INDEX gateway_sample_seq ON gateway_sample (gateway, seq)",
    "CREATE INDEX gateway_sample_ts ON gateway_sample (gateway, ts)",
    "CREATE UNIQUE INDEX subscriber_usage_bucket ON subscriber_usage (subscriber, gateway, hour)",
    # At most one live enrollment token per gateway: issuing a new one revokes the old.
    "CREATE UNIQUE INDEX gateway_enrollment_token_live ON gateway_enrollment_token (gateway)"
    " WHERE used_at IS NULL AND revoked_at IS NULL",
    "ALTER TABLE gateway_command ADD CONSTRAINT gateway_command_status_valid CHECK (status IN"
    " ('pending', 'delivered', 'done', 'failed', 'expired'))",
)
"""Raw DDL next to its tables (`tenants/ddl.py`)."""
