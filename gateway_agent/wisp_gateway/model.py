"""The desired state as the agent holds it, and how an answer from the cloud changes it.

Entries are keyed by subscriber id, not MAC: a subscriber whose CPE is replaced arrives with a
new MAC and the old one must stop working. An entry that is disabled with no reason (a
cancelled subscriber) or has no MAC is a removal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MAX_KBPS = 100_000_000


@dataclass(frozen=True)
class Entry:
    id: str
    mac: str
    enabled: bool
    reason: str | None
    download_kbps: int
    upload_kbps: int


@dataclass(frozen=True)
class Failure:
    id: str
    mac: str
    error: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "mac": self.mac, "error": self.error}


def parse(raw: dict[str, Any]) -> tuple[Entry | None, Failure | None]:
    """(entry to keep, None), (None, None) for a removal, or (None, failure) for bad data."""
    sid = str(raw.get("id") or "")
    mac = raw.get("mac")
    enabled = bool(raw.get("enabled"))
    reason = raw.get("reason")
    if mac is None or (not enabled and reason is None):
        return None, None
    mac = str(mac).lower()
    if not MAC.match(mac):
        return None, Failure(sid, str(mac)[:17], "invalid MAC address")
    try:
        down, up = int(raw.get("download_kbps", 0)), int(raw.get("upload_kbps", 0))
    except (TypeError, ValueError):
        return None, Failure(sid, mac, "invalid rate")
    if enabled and not (0 < down <= MAX_KBPS and 0 < up <= MAX_KBPS):
        return None, Failure(sid, mac, "rate out of range")
    return Entry(sid, mac, enabled, reason, down, up), None


def merge(
    current: dict[str, Entry], answer: dict[str, Any]
) -> tuple[dict[str, Entry], list[Failure]]:
    """The desired set after a state answer (full: replaces; delta: changes by id)."""
    desired = {} if answer.get("full") else dict(current)
    failures = []
    for raw in answer.get("subscribers", []):
        entry, failure = parse(raw)
        sid = str(raw.get("id") or "")
        if failure is not None:
            failures.append(failure)
            desired.pop(sid, None)  # never keep enforcing what we were told is outdated
        elif entry is None:
            desired.pop(sid, None)
        else:
            desired[sid] = entry
    return desired, failures
