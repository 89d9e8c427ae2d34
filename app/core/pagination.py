"""Keyset pagination: lists in a total order, each page ending with an opaque cursor holding its
last row's sort key, so pages never overlap or skip rows however the table changes meanwhile.

    key = decode_cursor(cursor, dt.datetime.fromisoformat, uuid.UUID)   # 422 if tampered
    ... WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3 ...
    return items, next_cursor(rows, limit, lambda r: (r["created_at"], r["id"]))
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from app.core.i18n import _
from app.core.problems import Invalid

MAX_CURSOR_LENGTH = 512


def _plain(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def encode_cursor(*key: object) -> str:
    raw = json.dumps([_plain(v) for v in key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: Callable[[str], Any]) -> tuple[Any, ...]:
    """The sort key a cursor holds, each part parsed by its kind (`uuid.UUID`,
    `dt.datetime.fromisoformat`, `str`...). Anything else is a 422 naming `cursor`."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError(cursor[:20])
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError(parts)
        return tuple(kind(str(part)) for kind, part in zip(kinds, parts, strict=True))
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        raise Invalid({"cursor": _("This cursor is not valid.")}) from None


def next_cursor(
    rows: Sequence[Any], limit: int, key: Callable[[Any], tuple[object, ...]]
) -> str | None:
    """The cursor after a full page (None when the page is the last)."""
    if not rows or len(rows) < limit:
        return None
    return encode_cursor(*key(rows[-1]))


class SqlFilter:
    """WHERE clauses and their positional arguments, for lists filtered in SQL."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, clause: str) -> None:
        self.clauses.append(clause)

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""
