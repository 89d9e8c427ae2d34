"""The reference agent's parts on their own: configuration, merging answers, the state files,
back-off, /proc and ping parsing, and the nftables rule set it would load."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


def test_config_file_then_environment(tmp_path: Path) -> None:
    from wisp_gateway.config import ConfigError, load

    path = tmp_path / "config.toml"
    path.write_text(
        'cloud_url = "https://acme.wisp.example"\ndriver = "dryrun"\n'
        '[linux]\nlan_interface = "br-lan"\nwalled_garden = ["203.0.113.10"]\n'
    )
    env = {
        "WISP_GATEWAY_POLL_WAIT": "15",
        "WISP_GATEWAY_LINUX__LAN_INTERFACE": "eth9",
        "WISP_GATEWAY_DRYRUN__FAIL_MACS": "02:00:00:00:00:01, 02:00:00:00:00:02",
        "WISP_GATEWAY_VERIFY_TLS": "false",
        "UNRELATED": "x",
    }
    config = load(path, env)
    assert config.cloud_url == "https://acme.wisp.example"
    assert config.poll_wait == 15
    assert config.linux.lan_interface == "eth9"
    assert config.linux.walled_garden == ["203.0.113.10"]
    assert config.dryrun.fail_macs == ["02:00:00:00:00:01", "02:00:00:00:00:02"]
    assert config.verify_tls is False
    for bad_env in (
        {"WISP_GATEWAY_NOPE": "1"},
        {"WISP_GATEWAY_LINUX__LAN_INTERFACE": "eth0; rm -rf /"},
        {"WISP_GATEWAY_DRIVER": "windows"},
        {"WISP_GATEWAY_POLL_WAIT": "600"},
    ):
        with pytest.raises(ConfigError):
            load(path, bad_env)
    path.write_text('cloud_url = "https://x"\nsurprise = 1\n')
    with pytest.raises(ConfigError):
        load(path, {})


def test_merge_full_delta_removals_and_bad_entries() -> None:
    from wisp_gateway.model import merge

    def raw(sid: str, mac: str | None, enabled: bool = True, reason: str | None = None) -> dict:
        return {"id": sid, "mac": mac, "enabled": enabled, "reason": reason,
                "download_kbps": 5000, "upload_kbps": 500}  # fmt: skip

    full, bad = merge(
        {},
        {
            "full": True,
            "subscribers": [raw("a", "02:00:00:00:00:0A"), raw("b", "02:00:00:00:00:0b")],
        },
    )
    assert set(full) == {"a", "b"}
    assert full["a"].mac == "02:00:00:00:00:0a"
    assert bad == []
    delta = {"full": False, "subscribers": [
        raw("a", "02:00:00:00:00:0c"),  # a replaced CPE: same subscriber, new MAC
        raw("b", "02:00:00:00:00:0b", enabled=False, reason="non_payment"),
        raw("c", "02:00:00:00:00:0d", enabled=False),  # cancelled: a removal
        raw("d", "not-a-mac"),
    ]}  # fmt: skip
    after, bad = merge(full, delta)
    assert after["a"].mac == "02:00:00:00:00:0c"
    assert after["b"].enabled is False
    assert after["b"].reason == "non_payment"
    assert "c" not in after
    assert "d" not in after
    assert [(f.id, f.error) for f in bad] == [("d", "invalid MAC address")]
    replaced, _ = merge(after, {"full": True, "subscribers": [raw("z", "02:00:00:00:00:0e")]})
    assert set(replaced) == {"z"}


def test_merge_forgets_a_subscriber_that_moved_to_another_site() -> None:
    """What the cloud sends a gateway whose site a subscriber left: no MAC, no speeds."""
    from wisp_gateway.model import merge

    held, _ = merge(
        {},
        {"full": True, "subscribers": [{"id": "a", "mac": "02:00:00:00:00:0a", "enabled": True,
         "reason": None, "download_kbps": 5000, "upload_kbps": 500}]},
    )  # fmt: skip
    moved = {"id": "a", "mac": None, "enabled": False, "reason": None,
             "download_kbps": 0, "upload_kbps": 0}  # fmt: skip
    after, bad = merge(held, {"full": False, "subscribers": [moved]})
    assert after == {}
    assert bad == []  # a removal is not a failure, whatever its speeds
    again, bad = merge(after, {"full": False, "subscribers": [moved]})
    assert (again, bad) == ({}, [])  # forgetting what it does not hold is harmless


def test_store_is_private_and_atomic(tmp_path: Path) -> None:
    from wisp_gateway.model import Entry
    from wisp_gateway.store import AppliedState, Credentials, Store

    store = Store(tmp_path / "state")
    store.save_credentials(Credentials("gw-1", "wgs_secret"))
    store.save_state(
        AppliedState(7, 2, {"a": Entry("a", "02:00:00:00:00:01", True, None, 1, 2)}, None)
    )
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    for name in ("credentials.json", "state.json"):
        assert stat.S_IMODE(os.stat(tmp_path / "state" / name).st_mode) == 0o600
    assert [p.name for p in (tmp_path / "state").iterdir() if p.name.startswith(".")] == []
    again = Store(tmp_path / "state")
    assert again.credentials() == Credentials("gw-1", "wgs_secret")
    state = again.state()
    assert (state.version, state.epoch) == (7, 2)
    assert state.subscribers["a"].upload_kbps == 2
    assert again.telemetry_seq() == 0
    again.save_telemetry_seq(41)
    assert Store(tmp_path / "state").telemetry_seq() == 41


def test_backoff_grows_with_jitter_and_caps() -> None:
    from wisp_gateway.client import Backoff

    backoff = Backoff(base=1.0, cap=8.0)
    delays = [backoff.next() for _ in range(40)]
    assert all(0.05 <= d <= 8.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 20  # jittered, not a fixed schedule
    backoff.reset()
    assert backoff.next() <= 1.0


def test_proc_and_ping_parsing() -> None:
    from wisp_gateway.linktest import parse_ping
    from wisp_gateway.system import cpu_times, interface_counters, memory_percent

    dev = (
        "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
        "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
        "  eth0: 18446744073709551000 9 0 0 0 0 0 0 4242 7 0 0 0 0 0 0\n"
    )
    assert interface_counters(dev, "eth0") == (18446744073709551000, 4242)
    assert interface_counters(dev, "eth1") is None
    assert cpu_times("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 2 3\n") == (20, 100)
    assert memory_percent("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n") == 75.0
    out = (
        "--- 10.0.0.2 ping statistics ---\n"
        "5 packets transmitted, 4 received, 20% packet loss, time 804ms\n"
        "rtt min/avg/max/mdev = 0.041/1.250/3.100/0.500 ms\n"
    )
    assert parse_ping(out) == {
        "loss_percent": 20.0,
        "rtt_min_ms": 0.041,
        "rtt_avg_ms": 1.25,
        "rtt_max_ms": 3.1,
    }
    assert parse_ping("3 packets transmitted, 0 received, 100% packet loss") == {
        "loss_percent": 100.0
    }


def test_linux_ruleset() -> None:
    from wisp_gateway.config import Config, LinuxConfig
    from wisp_gateway.drivers.linux import LinuxDriver
    from wisp_gateway.model import Entry

    config = Config(
        cloud_url="http://x",
        linux=LinuxConfig(lan_interface="lan0", walled_garden=["203.0.113.10", "2001:db8::1"]),
    )
    driver = LinuxDriver(config)
    driver.minor = {"a": 0x10}
    desired = {
        "a": Entry("a", "02:00:00:00:00:01", True, None, 5000, 500),
        "b": Entry("b", "02:00:00:00:00:02", False, "non_payment", 5000, 500),
    }
    rules = driver.ruleset(desired, {"a"})
    assert rules.startswith("table inet wisp_gateway\ndelete table inet wisp_gateway\n")
    assert "set allowed { type ether_addr; counter; elements = { 02:00:00:00:00:01 }; }" in rules
    assert "set blocked { type ether_addr; elements = { 02:00:00:00:00:02 }; }" in rules
    assert "elements = { 02:00:00:00:00:01 : 2:10 }" in rules
    assert "elements = { 203.0.113.10 }" in rules
    assert "elements = { 2001:db8::1 }" in rules
    assert rules.rstrip().endswith('iifname "lan0" counter drop\n  }\n}')
    config.linux.unknown_policy = "accept"
    assert 'iifname "lan0" counter drop\n' not in LinuxDriver(config).ruleset({}, set())
