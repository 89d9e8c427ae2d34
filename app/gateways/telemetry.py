"""Telemetry ingest: sequence-numbered samples, unwrapped WAN counters, per-subscriber bytes.

The gateway row is locked for the batch, so one gateway's posts are applied in order: a sample
whose sequence number was already seen is a duplicate (a retry) and ignored; a jump in the
sequence is a gap, counted on the sample after it and on the gateway. WAN counters arrive raw
(64-bit, or 32-bit on some hardware); the bytes of each interval are the difference to the
previous sample, across a wrap when the difference is plausible, else the counter was reset
(reboot, interface re-created) and counting starts again from the new value. A changed
`boot_id` is a reset for certain. Per-subscriber bytes arrive as amounts since the previous
sample (the agent unwraps its own counters) and are added to hourly buckets for data caps.

Usage feeds data caps, so a gateway is believed only about what it can have seen: the
subscribers it serves (those behind its sites; a gateway with no sites serves all), and no more
bytes per direction than a 10 Gb/s line carries in the sample's interval (since the previous
sample, or for a gateway's first since its enrollment; at least one second). Anything else is
dropped item by item and listed in the answer (`usage_rejected`, `rejections`) rather than
refusing the batch with a 422: the agent drops a refused batch, and with it the WAN samples and
the honest usage that came along. Usage naming no subscriber of the tenant is ignored as before.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from app.core.i18n import _
from app.core.problems import Invalid
from app.core.timeutil import now
from app.gateways.access import SUBSCRIBER_SITE, site_ids
from app.gateways.credentials import GatewayCredential, verify
from app.gateways.schemas import SampleIn, TelemetryIn, TelemetryOut, UsageIn, UsageRejection
from app.plans.access import parse_id
from app.subscribers.mac import normalise_mac
from tenants.scope import current_scope, tenant_scope

MAX_SAMPLES = 1000
MAX_LINK_BYTES_PER_S = 100e9 / 8
"""The fastest WAN we believe in (100 Gb/s): a "wrap" implying more is a reset."""
MAX_USAGE_BYTES_PER_S = 10e9 / 8
"""The fastest subscriber line we believe in (10 Gb/s each way): more in an interval is refused."""
MAX_REJECTIONS_LISTED = 100
MAX_FUTURE = dt.timedelta(minutes=5)
MAX_PAST = dt.timedelta(days=7)

_INSERT_SAMPLES = (
    "INSERT INTO gateway_sample (id, gateway, seq, ts, interval_s, rx_bytes, tx_bytes, rx_bps,"
    " tx_bps, users_authenticated, users_connected, cpu_percent, mem_percent, gap_before,"
    " counter_reset) SELECT u.id, $1, u.seq, u.ts, u.iv, u.rx, u.tx, u.rxr, u.txr, u.ua, u.uc,"
    " u.cpu, u.mem, u.gap, u.rst FROM unnest($2::uuid[], $3::bigint[], $4::timestamptz[],"
    " $5::real[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::int[],"
    " $11::int[], $12::real[], $13::real[], $14::bigint[], $15::bool[])"
    " AS u(id, seq, ts, iv, rx, tx, rxr, txr, ua, uc, cpu, mem, gap, rst)"
    " ON CONFLICT (gateway, seq) DO NOTHING"
)
_UPSERT_USAGE = (
    "INSERT INTO subscriber_usage (id, subscriber, gateway, hour, rx_bytes, tx_bytes)"
    " SELECT u.id, u.s, $1, u.h, u.rx, u.tx FROM unnest($2::uuid[], $3::uuid[],"
    " $4::timestamptz[], $5::bigint[], $6::bigint[]) AS u(id, s, h, rx, tx)"
    " ON CONFLICT (subscriber, gateway, hour) DO UPDATE SET"
    " rx_bytes = subscriber_usage.rx_bytes + excluded.rx_bytes,"
    " tx_bytes = subscriber_usage.tx_bytes + excluded.tx_bytes"
)


def counter_delta(previous: int, current: int, bits: int, max_delta: float) -> tuple[int, bool]:
    """(bytes since the previous reading, whether the counter was reset)."""
    if current >= previous:
        return current - previous, False
    wrapped = current + (1 << bits) - previous
    if wrapped <= max_delta:
        return wrapped, False
    return current, True


def _sample_time(raw: str | None, received: dt.datetime) -> dt.datetime:
    if raw:
        try:
            at = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return received
        if at.tzinfo is not None and received - MAX_PAST <= at <= received + MAX_FUTURE:
            return at.astimezone(dt.UTC)
    return received


def _check(data: TelemetryIn) -> list[SampleIn]:
    if not 1 <= len(data.samples) <= MAX_SAMPLES:
        raise Invalid({"samples": _("Send 1 to {n} samples.").format(n=MAX_SAMPLES)})
    for s in data.samples:
        if s.counter_bits not in (32, 64):
            raise Invalid({"counter_bits": _("Use 32 or 64.")})
        for name in ("wan_rx_bytes", "wan_tx_bytes"):
            if getattr(s, name) >= 1 << 64:
                raise Invalid({name: _("A 64-bit counter cannot hold this value.")})
        if s.counter_bits == 32 and max(s.wan_rx_bytes, s.wan_tx_bytes) >= 1 << 32:
            raise Invalid({"wan_rx_bytes": _("A 32-bit counter cannot hold this value.")})
    return sorted(data.samples, key=lambda s: s.seq)


async def _subscriber_ids(
    samples: list[SampleIn],
) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """Known subscribers among the samples' ids and MACs (other ones are ignored)."""
    ids, macs = set(), set()
    for s in samples:
        for u in s.subscribers:
            if u.id and (sid := parse_id(u.id)):
                ids.add(sid)
            elif u.mac:
                mac, _why = normalise_mac(u.mac)
                if mac:
                    macs.add(mac)
    by_id: dict[str, uuid.UUID] = {}
    by_mac: dict[str, uuid.UUID] = {}
    conn = current_scope().connection
    if ids:
        for r in await conn.fetch(
            "SELECT id FROM subscriber WHERE id = ANY($1::uuid[])", list(ids)
        ):
            by_id[str(r["id"])] = r["id"]
    if macs:
        for r in await conn.fetch(
            "SELECT id, cpe_mac FROM subscriber WHERE cpe_mac = ANY($1::text[])"
            " AND status <> 'cancelled'",
            list(macs),
        ):
            by_mac[r["cpe_mac"]] = r["id"]
    return by_id, by_mac


async def _served(gateway_id: uuid.UUID, subscribers: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `subscribers` behind the gateway's sites (all, for a gateway with none)."""
    if not subscribers:
        return subscribers  # a batch without usage costs no query
    sites = await site_ids(gateway_id)
    if not sites:
        return subscribers
    rows = await current_scope().connection.fetch(
        f"SELECT s.id FROM subscriber s WHERE s.id = ANY($1::uuid[])"
        f" AND {SUBSCRIBER_SITE} = ANY($2::uuid[])",
        list(subscribers),
        sites,
    )
    return {r["id"] for r in rows}


class _Usage:
    """Per-subscriber bytes of one batch: hourly buckets, and what was refused."""

    def __init__(self, served: set[uuid.UUID]) -> None:
        self.served = served
        self.buckets: dict[tuple[uuid.UUID, dt.datetime], list[int]] = defaultdict(lambda: [0, 0])
        self.rejected = 0
        self.rejections: list[UsageRejection] = []

    def _reject(self, seq: int, usage: UsageIn, reason: str, message: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_LISTED:
            self.rejections.append(
                UsageRejection(seq=seq, id=usage.id, mac=usage.mac, reason=reason, message=message)
            )

    def add(
        self, s: SampleIn, sids: list[uuid.UUID | None], hour: dt.datetime, span: float
    ) -> None:
        limit = MAX_USAGE_BYTES_PER_S * max(span, 1.0)
        totals: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
        for u, sid in zip(s.subscribers, sids, strict=True):
            if sid is not None:
                totals[sid][0] += u.rx_bytes
                totals[sid][1] += u.tx_bytes
        for u, sid in zip(s.subscribers, sids, strict=True):
            if sid is None:
                continue
            if sid not in self.served:
                self._reject(
                    s.seq, u, "not_served", _("This gateway does not serve this subscriber.")
                )
            elif max(totals[sid]) > limit:
                self._reject(
                    s.seq,
                    u,
                    "implausible",
                    _("More bytes than a 10 Gb/s line carries in the sample's interval."),
                )
            else:
                bucket = self.buckets[(sid, hour)]
                bucket[0] += u.rx_bytes
                bucket[1] += u.tx_bytes


def _who(
    usage: UsageIn, by_id: dict[str, uuid.UUID], by_mac: dict[str, uuid.UUID]
) -> uuid.UUID | None:
    sid = parse_id(usage.id) if usage.id else None
    if sid is not None:
        return by_id.get(str(sid))
    if usage.mac:
        mac, _why = normalise_mac(usage.mac)
        return by_mac.get(mac or "")
    return None


async def ingest(credential: GatewayCredential, data: TelemetryIn) -> TelemetryOut:
    samples = _check(data)
    received = now()
    async with tenant_scope(credential.tenant):
        gateway = await verify(credential, lock=True)
        conn = current_scope().connection
        last = await conn.fetchrow(
            "SELECT telemetry_seq, boot_id, wan_rx_counter, wan_tx_counter, last_sample_at,"
            " circuit_ok, enrolled_at FROM gateway WHERE id = $1",
            gateway["id"],
        )
        seq, boot = int(last["telemetry_seq"]), last["boot_id"]
        rx_prev = int(last["wan_rx_counter"]) if last["wan_rx_counter"] is not None else None
        tx_prev = int(last["wan_tx_counter"]) if last["wan_tx_counter"] is not None else None
        at_prev, circuit = last["last_sample_at"], last["circuit_ok"]
        by_id, by_mac = await _subscriber_ids(samples)
        usage = _Usage(await _served(gateway["id"], {*by_id.values(), *by_mac.values()}))
        cols: list[list[Any]] = [[] for _ in range(14)]
        duplicates = gaps = 0
        for s in samples:
            if s.seq <= seq:
                duplicates += 1
                continue
            gap = s.seq - seq - 1 if seq > 0 else 0
            gaps += gap
            at = _sample_time(s.ts, received)
            interval = max(0.0, (at - at_prev).total_seconds()) if at_prev else 0.0
            limit = MAX_LINK_BYTES_PER_S * max(interval, 1.0)
            reset = bool(boot and s.boot_id and s.boot_id != boot)
            if rx_prev is None or tx_prev is None or reset:
                rx, tx = (s.wan_rx_bytes, s.wan_tx_bytes) if reset else (0, 0)
            else:
                rx, rx_reset = counter_delta(rx_prev, s.wan_rx_bytes, s.counter_bits, limit)
                tx, tx_reset = counter_delta(tx_prev, s.wan_tx_bytes, s.counter_bits, limit)
                reset = rx_reset or tx_reset
            rates = (int(rx * 8 / interval), int(tx * 8 / interval)) if interval > 0 else (0, 0)
            row = [uuid.uuid4(), s.seq, at, interval, rx, tx, *rates, s.users_authenticated]
            row += [s.users_connected, s.cpu_percent, s.mem_percent, gap, reset]
            for col, value in zip(cols, row, strict=True):
                col.append(value)
            hour = at.replace(minute=0, second=0, microsecond=0)
            if s.subscribers:
                # Usage since the previous sample; a gateway's first counts from enrollment.
                start = at_prev or last["enrolled_at"] or at
                span = max(0.0, (at - start).total_seconds())
                usage.add(s, [_who(u, by_id, by_mac) for u in s.subscribers], hour, span)
            seq, rx_prev, tx_prev, at_prev = s.seq, s.wan_rx_bytes, s.wan_tx_bytes, at
            boot = s.boot_id or boot
            if s.circuit_ok is not None:
                circuit = s.circuit_ok
        if cols[0]:
            await conn.execute(_INSERT_SAMPLES, gateway["id"], *cols)
            await conn.execute(
                "UPDATE gateway SET telemetry_seq = $2, telemetry_gaps = telemetry_gaps + $3,"
                " boot_id = $4, wan_rx_counter = $5, wan_tx_counter = $6, last_sample_at = $7,"
                " circuit_ok = $8 WHERE id = $1",
                gateway["id"],
                seq,
                gaps,
                boot[:64],
                rx_prev,
                tx_prev,
                at_prev,
                circuit,
            )
        if usage.buckets:
            # In subscriber id order: each new row's foreign-key check takes a key-share lock
            # on its subscriber, and writers holding several subscribers lock them in id order.
            keys = sorted(usage.buckets)
            await conn.execute(
                _UPSERT_USAGE,
                gateway["id"],
                [uuid.uuid4() for _ in keys],
                [k[0] for k in keys],
                [k[1] for k in keys],
                [usage.buckets[k][0] for k in keys],
                [usage.buckets[k][1] for k in keys],
            )
    return TelemetryOut(
        accepted=len(cols[0]),
        duplicates=duplicates,
        gaps=gaps,
        last_seq=seq,
        usage_rejected=usage.rejected,
        rejections=usage.rejections,
    )
