"""Drivers turn the desired state into what the box enforces.

`apply` always receives the whole desired set (the agent merges deltas first) and must be
idempotent: it is called again with the same set after a restart or a failure.
"""

from __future__ import annotations

from typing import Protocol

from wisp_gateway.config import Config
from wisp_gateway.model import Entry, Failure


class Driver(Protocol):
    name: str

    async def apply(self, desired: dict[str, Entry]) -> list[Failure]:
        """Enforce exactly `desired`; returns what could not be applied."""
        ...

    async def connected_macs(self) -> set[str]:
        """MACs of devices seen on the LAN recently."""
        ...

    async def usage(self) -> dict[str, tuple[int, int]]:
        """Cumulative (downloaded, uploaded) bytes per subscriber id since the counters began;
        counters may restart from zero (the agent handles that)."""
        ...


def make_driver(config: Config) -> Driver:
    if config.driver == "dryrun":
        from wisp_gateway.drivers.dryrun import DryRunDriver

        return DryRunDriver(config)
    from wisp_gateway.drivers.linux import LinuxDriver

    return LinuxDriver(config)
