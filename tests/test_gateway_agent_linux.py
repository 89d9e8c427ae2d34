"""The linux driver for real, in network namespaces this test creates and removes.

    subscriber ns (eth0) ── veth ── (lan0) gateway ns (wan0) ── veth ── (eth0) server ns

The gateway namespace routes between the two; the driver's nftables and tc rules run in it.
Needs root, ip, nft, tc, ping and iperf3: skipped without them locally, a failure under CI.
Only namespace addresses are used (10.77/16 and 10.78/16 inside the namespaces).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

TOOLS = ("ip", "nft", "tc", "ping", "iperf3")
SERVER_IP = "10.78.0.2"
TOLERANCE = 0.15


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables, tc)"
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        return "needs " + ", ".join(absent) + " (Debian: nftables iproute2 iperf3 iputils-ping)"
    return None


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=timeout)


@dataclass
class Lab:
    prefix: str = field(default_factory=lambda: f"wgw{secrets.token_hex(3)}")
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def gw(self) -> str:
        return f"{self.prefix}-gw"

    @property
    def sub(self) -> str:
        return f"{self.prefix}-sub"

    @property
    def srv(self) -> str:
        return f"{self.prefix}-srv"

    def up(self) -> None:
        for ns in (self.gw, self.sub, self.srv):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "link",
            "add",
            "lan0",
            "netns",
            self.gw,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            self.sub,
        )
        sh(
            "ip",
            "link",
            "add",
            "wan0",
            "netns",
            self.gw,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            self.srv,
        )
        for ns, dev, addr in (
            (self.gw, "lan0", "10.77.0.1/24"),
            (self.gw, "wan0", "10.78.0.1/24"),
            (self.sub, "eth0", "10.77.0.2/24"),
            (self.srv, "eth0", f"{SERVER_IP}/24"),
        ):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", self.sub, "route", "add", "default", "via", "10.77.0.1")
        sh("ip", "-n", self.srv, "route", "add", "10.77.0.0/24", "via", "10.78.0.1")
        sh("ip", "netns", "exec", self.gw, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def down(self) -> None:
        for proc in self.servers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        for ns in (self.gw, self.sub, self.srv):
            sh("ip", "netns", "del", ns, check=False)

    def mac(self) -> str:
        out = sh("ip", "-n", self.sub, "-j", "link", "show", "eth0").stdout
        return str(json.loads(out)[0]["address"])

    def set_mac(self, mac: str) -> None:
        sh("ip", "-n", self.sub, "link", "set", "eth0", "address", mac)

    def ping(self) -> bool:
        r = sh(
            "ip",
            "netns",
            "exec",
            self.sub,
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "1",
            SERVER_IP,
            check=False,
        )
        return r.returncode == 0

    def iperf_mbit(self, download: bool) -> float:
        """Throughput seen by the receiver over 4 s (the first second, slow start, omitted)."""
        port = str(5201 + len(self.servers))
        server = subprocess.Popen(
            ["ip", "netns", "exec", self.srv, "iperf3", "-s", "-1", "-p", port],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.servers.append(server)
        for _ in range(50):  # until it listens (bounded: 5 s)
            r = sh("ip", "netns", "exec", self.srv, "ss", "-ltn", check=False)
            if f":{port} " in r.stdout:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        argv = ["ip", "netns", "exec", self.sub, "iperf3", "-c", SERVER_IP, "-p", port]
        argv += ["-t", "4", "-O", "1", "-J"] + (["-R"] if download else [])
        report = json.loads(sh(*argv, timeout=30).stdout)
        server.wait(timeout=10)
        return float(report["end"]["sum_received"]["bits_per_second"]) / 1e6


@pytest.fixture
def lab() -> Iterator[Lab]:
    why = _missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the linux driver test must run under CI: {why}")
        pytest.skip(f"linux driver test skipped: {why}")
    lab = Lab()
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def within(measured: float, kbps: int) -> bool:
    return abs(measured - kbps / 1000) <= TOLERANCE * kbps / 1000


def test_linux_driver_allows_blocks_and_shapes(lab: Lab) -> None:
    from wisp_gateway.config import Config, LinuxConfig
    from wisp_gateway.drivers.linux import LinuxDriver
    from wisp_gateway.model import Entry

    config = Config(
        cloud_url="http://localhost",
        wan_interface="wan0",
        netns=lab.gw,
        linux=LinuxConfig(lan_interface="lan0"),
    )
    driver = LinuxDriver(config)
    loop = asyncio.new_event_loop()

    def apply(*entries: Entry) -> list[Any]:
        return loop.run_until_complete(driver.apply({e.id: e for e in entries}))

    try:
        mac = lab.mac()
        assert lab.ping(), "no route before any rule"
        assert apply() == []
        assert not lab.ping(), "an unknown MAC must be dropped"
        sid = "sub-1"
        assert apply(Entry(sid, mac, True, None, 20_000, 5_000)) == []
        assert lab.ping(), "an enabled subscriber must get through"
        down, up = lab.iperf_mbit(download=True), lab.iperf_mbit(download=False)
        print(f"\nlinux driver, plan 20000/5000 kbit/s: measured {down:.2f}/{up:.2f} Mbit/s")
        assert within(down, 20_000), down
        assert within(up, 5_000), up
        usage = loop.run_until_complete(driver.usage())
        assert usage[sid][0] > 1_000_000 and usage[sid][1] > 100_000, usage
        assert mac in loop.run_until_complete(driver.connected_macs())
        assert apply(Entry(sid, mac, False, "non_payment", 20_000, 5_000)) == []
        assert not lab.ping(), "a suspended subscriber must be blocked"
        assert apply(Entry(sid, mac, True, None, 8_000, 2_000)) == []
        assert lab.ping(), "a reactivated subscriber must get through"
        down = lab.iperf_mbit(download=True)
        print(f"linux driver, plan changed to 8000 kbit/s down: measured {down:.2f} Mbit/s")
        assert within(down, 8_000), down
        # A replaced CPE: the old MAC stops working, the new one works.
        new_mac = "02:00:5e:10:00:" + mac[-2:]
        lab.set_mac(new_mac)
        assert not lab.ping(), "a MAC the cloud never named must be dropped"
        assert apply(Entry(sid, new_mac, True, None, 8_000, 2_000)) == []
        assert lab.ping()
        ruleset = sh(
            "ip", "netns", "exec", lab.gw, "nft", "list", "table", "inet", "wisp_gateway"
        ).stdout
        assert new_mac in ruleset and mac not in ruleset
    finally:
        loop.close()
