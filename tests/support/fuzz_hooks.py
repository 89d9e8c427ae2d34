"""Schemathesis hooks for `tests/test_api_fuzz.py` (loaded through SCHEMATHESIS_HOOKS).

- Hostile values: Schemathesis' valid data follows each field's format (an email is always
  an email), and its invalid data is mostly refused by the JSON decoder. So about three
  generated bodies and queries in four get hostile values instead: a NUL or another control
  character inside strings, numbers past every column's range (also as decimal strings),
  overlong text.
- One extra check: no answer on the first tenant's host carries an id of the second tenant
  (their ids are handed over in WISP_FUZZ_FOREIGN_IDS).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

FOREIGN_IDS = [i.encode() for i in os.environ.get("WISP_FUZZ_FOREIGN_IDS", "").split(",") if i]
HUGE = 10**30


def _hostile(value: Any) -> list[Any]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [HUGE, -HUGE, 2**63]
    if isinstance(value, str):
        return [
            value + "\x00",
            f"\x00{value}\x1b[31m",
            "99999999999999999999999.99",
            "x" * 20_000,
        ]
    return []


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _paths(item, (*path, index))]
    return [(path, value)]


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(item, rest, new) if i == head else item for i, item in enumerate(value)]


def _everywhere(value: Any, bad: Any, kind: type | tuple[type, ...]) -> Any:
    """`value` with every leaf of `kind` replaced by `bad(leaf)`."""
    for path, leaf in _paths(value):
        if isinstance(leaf, kind) and not isinstance(leaf, bool):
            value = _replaced(value, path, bad(leaf))
    return value


def _with_hostile(value: Any) -> Any:
    """The value as generated, or with NUL in every string, or every number huge, or one
    leaf made hostile (about one case in four each)."""
    single = [_replaced(value, path, bad) for path, leaf in _paths(value) for bad in _hostile(leaf)]
    if not single:
        return st.just(value)
    return st.one_of(
        st.just(value),
        st.just(_everywhere(value, lambda text: text + "\x00", str)),
        st.just(_everywhere(value, lambda _n: HUGE, (int, float))),
        st.sampled_from(single),
    )


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> Any:
    return _with_hostile(body) if isinstance(body, dict | list) else st.just(body)


@schemathesis.hook
def flatmap_query(context: Any, query: Any) -> Any:
    return _with_hostile(query) if isinstance(query, dict) else st.just(query)


@schemathesis.check
def no_foreign_tenant_ids(ctx: Any, response: Any, case: Any) -> None:
    body = response.content or b""  # bytes: some answers are PDFs or images
    leaked = [i.decode() for i in FOREIGN_IDS if i in body]
    if leaked:
        raise AssertionError(f"another tenant's ids came back: {leaked}")
