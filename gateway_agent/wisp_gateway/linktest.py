"""The CPE link test: ping loss and latency through the system `ping`, optionally throughput
through `iperf3` (when the CPE side runs an iperf3 server). The CPE's address is the one given
with the command, or else found from its MAC in the LAN's neighbour table."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from wisp_gateway.system import Runner

_LOSS = re.compile(
    r"(\d+) packets transmitted, (\d+) (?:packets )?received.*?([\d.]+)% packet loss"
)
_RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")
_NEIGH = re.compile(r"^(\S+) .*lladdr ([0-9a-f:]{17})")


async def find_address(runner: Runner, mac: str, lan_interface: str) -> str | None:
    result = await runner.run(["ip", "neigh", "show", "dev", lan_interface], limit=5)
    for line in result.out.splitlines():
        found = _NEIGH.match(line.strip().lower().replace(f"dev {lan_interface} ", ""))
        if found and found.group(2) == mac.lower():
            return found.group(1)
    return None


def parse_ping(output: str) -> dict[str, Any]:
    loss = _LOSS.search(output)
    rtt = _RTT.search(output)
    out: dict[str, Any] = {}
    if loss:
        out["loss_percent"] = float(loss.group(3))
    if rtt:
        out["rtt_min_ms"], out["rtt_avg_ms"], out["rtt_max_ms"] = (
            float(rtt.group(1)),
            float(rtt.group(2)),
            float(rtt.group(3)),
        )
    return out


async def run_link_test(
    runner: Runner, command: dict[str, Any], lan_interface: str
) -> dict[str, Any]:
    address = command.get("address")
    mac = command.get("mac") or ""
    if not address and mac:
        address = await find_address(runner, mac, lan_interface)
    if not address:
        return {"ok": False, "error": "the CPE's address is unknown (not in the neighbour table)"}
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        return {"ok": False, "error": "not an IP address"}
    count = max(1, min(int(command.get("count", 10)), 50))
    ping = await runner.run(
        ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1", address],
        limit=count * 1.5 + 10,
    )
    result: dict[str, Any] = {"address": address, **parse_ping(ping.out)}
    if "loss_percent" not in result:
        return {
            **result,
            "ok": False,
            "error": (ping.err or ping.out).strip()[:300] or "ping failed",
        }
    result["ok"] = result["loss_percent"] < 100
    if command.get("throughput"):
        iperf = await runner.run(["iperf3", "-c", address, "-t", "5", "-J"], limit=20)
        try:
            report = json.loads(iperf.out)
            bps = report["end"]["sum_received"]["bits_per_second"]
            result["throughput_kbps"] = round(float(bps) / 1000, 1)
        except (ValueError, KeyError, TypeError):
            result["error"] = "throughput test failed: " + (iperf.err or iperf.out)[:200].strip()
    if not result["ok"]:
        result.setdefault("error", "no reply from the CPE")
    return result
