"""The Linux driver: nftables for access, tc HTB for speeds.

Access — one nftables table of our own, `inet wisp_gateway`, replaced as a whole by one
`nft -f` transaction on every apply (atomic: no moment with half a rule set):

- set `allowed` (MACs of enabled subscribers, with per-element byte counters),
- set `blocked` (MACs of suspended subscribers),
- map `upload_class` (MAC → the subscriber's upload class on the WAN interface),
- a forward-hook chain: traffic entering from the LAN interface is accepted from `allowed`,
  accepted towards the walled garden, dropped from `blocked`, and dropped (or accepted, by
  `unknown_policy`) from every other MAC.

Speeds — HTB, one class per enabled subscriber:

- download: on the LAN interface's egress, classified by destination MAC with a u32 hash table
  keyed on the MAC's last byte (256 buckets), so lookups stay short with many subscribers;
- upload: on the WAN interface's egress. The kernel cannot shape a device's ingress without
  IFB or a policer, so nftables sets the packet's priority to the subscriber's WAN class
  (`meta priority set ether saddr map @upload_class`) while the source MAC is still known,
  and HTB picks that class.

Limits: up to 65,000 subscribers per gateway (HTB class ids are 16 bits); one WAN interface
carries the upload classes (traffic leaving by another interface is not shaped); per
subscriber counters restart when the rules are rebuilt (the agent treats that as a reset).
"""

from __future__ import annotations

import ipaddress
import logging
import re

from wisp_gateway.config import Config
from wisp_gateway.model import MAC, Entry, Failure
from wisp_gateway.system import Runner

log = logging.getLogger(__name__)

TABLE = "wisp_gateway"
LAN_QDISC, WAN_QDISC, HASH_TABLE = "1", "2", "2"
FIRST_MINOR, LAST_MINOR = 0x10, 0xFFFE
_SENT = re.compile(r"^class htb \S+:([0-9a-f]+) .*?\n\s*Sent (\d+) bytes", re.M)


def _quantum(kbps: int) -> int:
    """HTB's quantum in bytes: about 100 ms of traffic, within what HTB accepts quietly."""
    return max(1600, min(200_000, kbps * 1000 // 8 // 10))


class LinuxDriver:
    name = "linux"

    def __init__(self, config: Config, runner: Runner | None = None) -> None:
        self.lan = config.linux.lan_interface
        self.wan = config.wan_interface
        self.unknown = config.linux.unknown_policy
        self.lan_kbps = config.linux.lan_rate_mbit * 1000
        self.garden = [ipaddress.ip_address(a) for a in config.linux.walled_garden]
        self.runner = runner or Runner(config.netns)
        self.shaped: dict[str, Entry] = {}
        self.minor: dict[str, int] = {}
        self.item: dict[str, str] = {}
        self.ready = False

    # nftables -------------------------------------------------------------------------------

    def ruleset(self, desired: dict[str, Entry], shaped: set[str]) -> str:
        def elements(macs: list[str]) -> str:
            return f" elements = {{ {', '.join(sorted(macs))} }};" if macs else ""

        allowed = [e.mac for e in desired.values() if e.enabled]
        blocked = [e.mac for e in desired.values() if not e.enabled and e.mac not in allowed]
        classes = [
            f"{e.mac} : {WAN_QDISC}:{self.minor[sid]:x}"
            for sid, e in sorted(desired.items())
            if sid in shaped and e.enabled
        ]
        lan = f'iifname "{self.lan}"'
        garden4 = [str(a) for a in self.garden if a.version == 4]
        garden6 = [str(a) for a in self.garden if a.version == 6]
        lines = [
            f"table inet {TABLE}",
            f"delete table inet {TABLE}",
            f"table inet {TABLE} {{",
            f"  set allowed {{ type ether_addr; counter;{elements(allowed)} }}",
            f"  set blocked {{ type ether_addr;{elements(blocked)} }}",
            f"  map upload_class {{ type ether_addr : classid;{elements(classes)} }}",
            f"  set garden4 {{ type ipv4_addr;{elements(garden4)} }}",
            f"  set garden6 {{ type ipv6_addr;{elements(garden6)} }}",
            "  chain forward {",
            "    type filter hook forward priority -5; policy accept;",
            f"    {lan} meta priority set ether saddr map @upload_class",
            f"    {lan} ether saddr @allowed accept",
            f"    {lan} ip daddr @garden4 accept",
            f"    {lan} ip6 daddr @garden6 accept",
            f"    {lan} ether saddr @blocked counter drop",
        ]
        if self.unknown == "drop":
            lines.append(f"    {lan} counter drop")
        lines += ["  }", "}"]
        return "\n".join(lines) + "\n"

    # tc -------------------------------------------------------------------------------------

    async def _tc(self, lines: list[str], force: bool = False) -> str | None:
        """Run tc commands in one batch; the error text, or None when all went through.
        With `force`, a failing line does not stop the ones after it."""
        if not lines:
            return None
        argv = ["tc", *(["-force"] if force else []), "-batch", "-"]
        result = await self.runner.run(argv, stdin="\n".join(lines) + "\n")
        return None if result.code == 0 else (result.err or result.out).strip()[:300]

    async def _reset_tc(self) -> None:
        for dev in (self.lan, self.wan):
            await self.runner.run(["tc", "qdisc", "del", "dev", dev, "root"])
        total = self.lan_kbps
        error = await self._tc(
            [
                f"qdisc add dev {self.lan} root handle {LAN_QDISC}: htb default 0",
                f"class add dev {self.lan} parent {LAN_QDISC}: classid {LAN_QDISC}:1 htb"
                f" rate {total}kbit ceil {total}kbit quantum {_quantum(total)}",
                f"filter add dev {self.lan} parent {LAN_QDISC}: prio 10 handle {HASH_TABLE}:"
                " protocol all u32 divisor 256",
                # The last byte of the destination MAC (bytes -12..-9 of the frame) picks a bucket.
                f"filter add dev {self.lan} parent {LAN_QDISC}: prio 10 protocol all u32"
                f" ht 800:: match u32 0 0 hashkey mask 0x000000ff at -12 link {HASH_TABLE}:",
                f"qdisc add dev {self.wan} root handle {WAN_QDISC}: htb default 0",
                f"class add dev {self.wan} parent {WAN_QDISC}: classid {WAN_QDISC}:1 htb"
                f" rate {total}kbit ceil {total}kbit quantum {_quantum(total)}",
            ]
        )
        if error:
            raise RuntimeError(f"tc setup failed: {error}")
        self.shaped, self.minor, self.item = {}, {}, {}
        self.ready = True

    def _allocate(self, sid: str, mac: str) -> None:
        if sid not in self.minor:
            used = set(self.minor.values())
            self.minor[sid] = next(m for m in range(FIRST_MINOR, LAST_MINOR + 1) if m not in used)
        bucket = mac[-2:]
        taken = {h for h in self.item.values() if h.startswith(f"{HASH_TABLE}:{bucket}:")}
        for n in range(1, 0xFFF + 1):
            handle = f"{HASH_TABLE}:{bucket}:{n:x}"
            if handle not in taken:
                self.item[sid] = handle
                return
        raise RuntimeError(f"too many subscribers whose MAC ends in {bucket}")

    def _add(self, sid: str, e: Entry) -> list[str]:
        minor = f"{self.minor[sid]:x}"
        mac = e.mac.replace(":", "")
        return [
            f"class replace dev {self.lan} parent {LAN_QDISC}:1 classid {LAN_QDISC}:{minor} htb"
            f" rate {e.download_kbps}kbit ceil {e.download_kbps}kbit"
            f" quantum {_quantum(e.download_kbps)}",
            f"class replace dev {self.wan} parent {WAN_QDISC}:1 classid {WAN_QDISC}:{minor} htb"
            f" rate {e.upload_kbps}kbit ceil {e.upload_kbps}kbit quantum {_quantum(e.upload_kbps)}",
            f"filter replace dev {self.lan} parent {LAN_QDISC}: prio 10 protocol all"
            f" handle {self.item[sid]} u32 ht {HASH_TABLE}:{e.mac[-2:]}:"
            f" match u16 0x{mac[:4]} 0xffff at -14 match u32 0x{mac[4:]} 0xffffffff at -12"
            f" flowid {LAN_QDISC}:{minor}",
        ]

    def _remove(self, sid: str) -> list[str]:
        minor = f"{self.minor[sid]:x}"
        return [
            f"filter del dev {self.lan} parent {LAN_QDISC}: prio 10 protocol all"
            f" handle {self.item[sid]} u32",
            f"class del dev {self.lan} classid {LAN_QDISC}:{minor}",
            f"class del dev {self.wan} classid {WAN_QDISC}:{minor}",
        ]

    async def _shape(self, wanted: dict[str, Entry], failures: list[Failure]) -> None:
        """Bring the HTB classes to `wanted` (enabled subscribers), one batch if possible."""
        gone = [
            sid
            for sid in self.shaped
            if sid not in wanted or wanted[sid].mac != self.shaped[sid].mac
        ]
        new = [sid for sid, e in wanted.items() if self.shaped.get(sid) != e]
        removals = {sid: self._remove(sid) for sid in gone}
        lines = [line for sid in gone for line in removals[sid]]
        for sid in gone:
            self.shaped.pop(sid)
            self.item.pop(sid)
        for sid in new:
            self._allocate(sid, wanted[sid].mac)
            lines += self._add(sid, wanted[sid])
        if await self._tc(lines) is None:
            self.shaped.update({sid: wanted[sid] for sid in new})
        else:
            # Finish the removals whatever fails, then add one subscriber at a time to learn
            # which ones fail (every add is a replace, so redoing one is harmless).
            await self._tc([line for sid in gone for line in removals[sid]], force=True)
            for sid in new:
                error = await self._tc(self._add(sid, wanted[sid]))
                if error is None:
                    self.shaped[sid] = wanted[sid]
                else:
                    failures.append(Failure(sid, wanted[sid].mac, f"tc: {error}"))
                    self.ready = False  # rebuild everything on the next apply
        for sid in [s for s in self.minor if s not in self.shaped and s not in wanted]:
            self.minor.pop(sid)
            self.item.pop(sid, None)

    # the driver -----------------------------------------------------------------------------

    async def apply(self, desired: dict[str, Entry]) -> list[Failure]:
        for entry in desired.values():
            if not MAC.match(entry.mac):  # never let anything else near a command line
                raise ValueError(f"not a MAC address: {entry.mac!r}")
        if not self.ready:
            await self._reset_tc()
        failures: list[Failure] = []
        enabled = {sid: e for sid, e in desired.items() if e.enabled}
        if len(enabled) > LAST_MINOR - FIRST_MINOR:
            raise RuntimeError("more subscribers than HTB class ids")
        try:
            await self._shape(enabled, failures)
        except Exception as exc:
            self.ready = False  # rebuild from scratch on the next apply
            raise RuntimeError(f"tc failed: {exc}") from exc
        result = await self.runner.run(
            ["nft", "-f", "-"], stdin=self.ruleset(desired, set(self.shaped))
        )
        if result.code != 0:
            error = f"nft: {result.err.strip()[:280]}"
            return [Failure(sid, e.mac, error) for sid, e in desired.items()]
        return failures

    async def connected_macs(self) -> set[str]:
        result = await self.runner.run(["ip", "neigh", "show", "dev", self.lan], limit=5)
        macs = set()
        for line in result.out.lower().splitlines():
            parts = line.split()
            if "lladdr" in parts and not {"failed", "incomplete"} & set(parts):
                macs.add(parts[parts.index("lladdr") + 1])
        return macs

    async def usage(self) -> dict[str, tuple[int, int]]:
        by_minor = {m: sid for sid, m in self.minor.items() if sid in self.shaped}
        down: dict[str, int] = {}
        result = await self.runner.run(["tc", "-s", "class", "show", "dev", self.lan], limit=10)
        for minor, sent in _SENT.findall(result.out):
            sid = by_minor.get(int(minor, 16))
            if sid is not None:
                down[sid] = int(sent)
        up: dict[str, int] = {}
        by_mac = {e.mac: sid for sid, e in self.shaped.items()}
        result = await self.runner.run(["nft", "list", "set", "inet", TABLE, "allowed"], limit=10)
        for mac, sent in re.findall(r"([0-9a-f:]{17}) counter packets \d+ bytes (\d+)", result.out):
            if mac in by_mac:
                up[by_mac[mac]] = int(sent)
        return {sid: (down.get(sid, 0), up.get(sid, 0)) for sid in set(down) | set(up)}
