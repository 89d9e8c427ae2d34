"""Time is stored in UTC and sent as ISO 8601 UTC."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: object) -> str:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"not a datetime: {value!r}")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
