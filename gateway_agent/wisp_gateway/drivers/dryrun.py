"""The dry-run driver: logs what it would enforce, and changes nothing on the box."""

from __future__ import annotations

import logging

from wisp_gateway.config import Config
from wisp_gateway.model import Entry, Failure

log = logging.getLogger(__name__)


class DryRunDriver:
    name = "dryrun"

    def __init__(self, config: Config) -> None:
        self.fail = {m.lower() for m in config.dryrun.fail_macs}
        self.applied: dict[str, Entry] = {}
        self.applies = 0

    async def apply(self, desired: dict[str, Entry]) -> list[Failure]:
        self.applies += 1
        failures = []
        for sid in sorted(set(self.applied) - set(desired)):
            log.info("dryrun: would forget %s (%s)", self.applied[sid].mac, sid)
        for sid, entry in sorted(desired.items()):
            if entry.mac in self.fail:
                failures.append(Failure(sid, entry.mac, "dryrun: configured to fail"))
                continue
            if self.applied.get(sid) == entry:
                continue
            if entry.enabled:
                log.info(
                    "dryrun: would allow %s at %d/%d kbit/s (%s)",
                    entry.mac,
                    entry.download_kbps,
                    entry.upload_kbps,
                    sid,
                )
            else:
                log.info("dryrun: would block %s for %s (%s)", entry.mac, entry.reason, sid)
        self.applied = {k: v for k, v in desired.items() if v.mac not in self.fail}
        return failures

    async def connected_macs(self) -> set[str]:
        return set()

    async def usage(self) -> dict[str, tuple[int, int]]:
        return {}
