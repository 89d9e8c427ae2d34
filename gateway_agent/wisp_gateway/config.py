"""Configuration: a TOML file, then environment variables over it.

Every key can be set as `WISP_GATEWAY_<KEY>` (e.g. `WISP_GATEWAY_CLOUD_URL`), and a key of a
section as `WISP_GATEWAY_<SECTION>__<KEY>` (e.g. `WISP_GATEWAY_LINUX__LAN_INTERFACE`). Lists
are comma-separated in the environment. See examples/wisp-gateway.toml for every key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "WISP_GATEWAY_"
INTERFACE = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")
NETNS = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConfigError(ValueError):
    pass


@dataclass
class LinuxConfig:
    lan_interface: str = "eth1"
    """Subscribers are behind this interface: access rules and rate limits apply here."""
    unknown_policy: str = "drop"
    """What happens to a MAC the cloud never mentioned: `drop` or `accept`."""
    walled_garden: list[str] = field(default_factory=list)
    """Addresses blocked and unknown devices may still reach (the portal, DNS)."""
    lan_rate_mbit: int = 10000
    """The ceiling of all subscribers together (the HTB parent class)."""


@dataclass
class DryrunConfig:
    fail_macs: list[str] = field(default_factory=list)
    """Pretend these MACs cannot be applied (to try failure reporting)."""


@dataclass
class Config:
    cloud_url: str = ""
    state_dir: str = "/var/lib/wisp-gateway"
    enrollment_token: str = ""
    driver: str = "linux"
    wan_interface: str = "eth0"
    netns: str = ""
    """Run the driver's commands and read counters inside this network namespace."""
    poll_wait: int = 30
    telemetry_interval: int = 30
    rotate_every_hours: float = 0
    """Rotate the secret this often (0: never)."""
    hardware_id: str = ""
    circuit_check_host: str = ""
    """Pinged with each telemetry sample to report the WAN circuit up or down (empty: never)."""
    verify_tls: bool = True
    ca_file: str = ""
    backoff_max: float = 60.0
    log_level: str = "INFO"
    linux: LinuxConfig = field(default_factory=LinuxConfig)
    dryrun: DryrunConfig = field(default_factory=DryrunConfig)

    def validate(self) -> None:
        if not self.cloud_url.startswith(("https://", "http://")):
            raise ConfigError("cloud_url must be an http(s) URL")
        if self.driver not in ("linux", "dryrun"):
            raise ConfigError("driver must be linux or dryrun")
        for name in (self.wan_interface, self.linux.lan_interface):
            if not INTERFACE.match(name):
                raise ConfigError(f"not an interface name: {name!r}")
        if self.netns and not NETNS.match(self.netns):
            raise ConfigError(f"not a namespace name: {self.netns!r}")
        if self.linux.unknown_policy not in ("drop", "accept"):
            raise ConfigError("linux.unknown_policy must be drop or accept")
        if not 1 <= self.poll_wait <= 60:
            raise ConfigError("poll_wait must be 1 to 60 seconds")
        if self.telemetry_interval < 1:
            raise ConfigError("telemetry_interval must be at least 1 second")


def _convert(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, list):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def _apply(target: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(target)}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"unknown setting {where}{key}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key} must be a table")
            _apply(current, value, f"{where}{key}.")
        else:
            setattr(target, key, value)


def _from_env(config: Config, env: dict[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        target: Any = config
        for part in path[:-1]:
            target = getattr(target, part, None)
            if not dataclasses.is_dataclass(target):
                raise ConfigError(f"unknown setting {name}")
        if not hasattr(target, path[-1]) or dataclasses.is_dataclass(getattr(target, path[-1])):
            raise ConfigError(f"unknown setting {name}")
        setattr(target, path[-1], _convert(raw, getattr(target, path[-1])))


def load(path: str | Path | None, env: dict[str, str] | None = None) -> Config:
    config = Config()
    if path:
        with open(path, "rb") as f:
            _apply(config, tomllib.load(f), "")
    _from_env(config, dict(os.environ if env is None else env))
    config.validate()
    return config
