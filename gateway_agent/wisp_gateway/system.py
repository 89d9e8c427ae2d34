"""Running system commands (inside the configured network namespace) and reading /proc."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class Runner:
    """Runs argv lists (never a shell), prefixed with `ip netns exec NS` when configured."""

    def __init__(self, netns: str = "") -> None:
        self.prefix = ["ip", "netns", "exec", netns] if netns else []

    async def run(self, argv: list[str], stdin: str | None = None, limit: float = 30) -> Result:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), limit
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return Result(124, "", f"{argv[0]}: timed out after {limit:.0f}s")
        return Result(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )

    async def read(self, path: str) -> str:
        """A /proc file as seen from the namespace (network files differ per namespace)."""
        if not self.prefix:
            # /proc files are generated in memory: reading one never blocks on a disk.
            with open(path) as f:  # noqa: ASYNC230
                return f.read()
        result = await self.run(["cat", path], limit=5)
        if result.code != 0:
            raise OSError(result.err.strip() or f"cannot read {path}")
        return result.out


def interface_counters(proc_net_dev: str, interface: str) -> tuple[int, int] | None:
    """(rx bytes, tx bytes) of an interface from /proc/net/dev."""
    for line in proc_net_dev.splitlines()[2:]:
        name, _sep, rest = line.partition(":")
        if name.strip() == interface:
            fields = rest.split()
            return int(fields[0]), int(fields[8])
    return None


def cpu_times(proc_stat: str) -> tuple[int, int]:
    """(busy, total) jiffies from the first line of /proc/stat."""
    fields = [int(v) for v in proc_stat.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def memory_percent(meminfo: str) -> float:
    values = {}
    for line in meminfo.splitlines():
        key, _sep, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0])
    total = values.get("MemTotal", 0)
    available = values.get("MemAvailable", values.get("MemFree", 0))
    return round(100.0 * (total - available) / total, 2) if total else 0.0
