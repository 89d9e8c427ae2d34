"""Telemetry samples: WAN counters, load, users and per-subscriber bytes.

WAN counters are sent raw (the cloud unwraps them and spots resets, helped by `boot_id`);
per-subscriber bytes are sent as amounts since the previous sample, the agent handling its
own counters restarting (a driver re-applying its rules starts them from zero).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from wisp_gateway.drivers import Driver
from wisp_gateway.system import Runner, cpu_times, interface_counters, memory_percent

log = logging.getLogger(__name__)


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


class Sampler:
    def __init__(self, runner: Runner, driver: Driver, wan_interface: str, seq: int) -> None:
        self.runner, self.driver, self.wan = runner, driver, wan_interface
        self.seq = seq
        self.boot_id = _boot_id()
        self.cpu: tuple[int, int] | None = None
        self.usage: dict[str, tuple[int, int]] = {}

    async def _cpu_percent(self) -> float:
        busy, total = cpu_times(await self.runner.read("/proc/stat"))
        previous, self.cpu = self.cpu, (busy, total)
        if previous is None or total <= previous[1]:
            return 0.0
        return round(100.0 * (busy - previous[0]) / (total - previous[1]), 2)

    async def _usage(self) -> list[dict[str, Any]]:
        try:
            current = await self.driver.usage()
        except Exception:
            log.warning("could not read per-subscriber counters", exc_info=True)
            return []
        out = []
        for sid, (down, up) in current.items():
            before = self.usage.get(sid, (0, 0))
            d = down - before[0] if down >= before[0] else down
            u = up - before[1] if up >= before[1] else up
            if d or u:
                out.append({"id": sid, "rx_bytes": d, "tx_bytes": u})
        self.usage = current
        return out

    async def sample(self, authenticated: int, circuit_ok: bool | None = None) -> dict[str, Any]:
        counters = interface_counters(await self.runner.read("/proc/net/dev"), self.wan)
        if counters is None:
            raise OSError(f"no interface {self.wan} in /proc/net/dev")
        self.seq += 1
        connected = await self.driver.connected_macs()
        sample: dict[str, Any] = {
            "seq": self.seq,
            "ts": dt.datetime.now(dt.UTC).isoformat(),
            "boot_id": self.boot_id,
            "wan_rx_bytes": counters[0],
            "wan_tx_bytes": counters[1],
            "counter_bits": 64,
            "users_authenticated": authenticated,
            "users_connected": len(connected),
            "cpu_percent": await self._cpu_percent(),
            "mem_percent": memory_percent(await self.runner.read("/proc/meminfo")),
            "subscribers": await self._usage(),
        }
        if circuit_ok is not None:
            sample["circuit_ok"] = circuit_ok
        return sample
