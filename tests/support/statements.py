"""Every statement the app sends to PostgreSQL, with the tenant scope it ran in, and what each
one really touches (for tests/test_citus_invariants.py).

Capture: asyncpg's query logger on every connection of a fresh pool (the pool's `init` hook),
so nothing in the app changes. A tenant scope opens with `BEGIN; SET LOCAL search_path TO
"t_…"` (tenants/scope.py) and ends with COMMIT or ROLLBACK on the same connection; statements
in between belong to that tenant. COPY (`copy_records_to_table`) bypasses the logger; the
billing code names its own tenant's schema there explicitly.

What a statement touches is read from PostgreSQL itself: EXPLAIN (VERBOSE) in the same
search_path names the schema of every relation the plan reads or writes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from app.core.config import get_settings
from app.core.db import DB, NO_SCHEMA, close_pool, open_pool

SCOPE_BEGIN = re.compile(r'^BEGIN;\s*SET LOCAL search_path TO "([^"]+)"$', re.IGNORECASE)
TENANT_SCHEMA = re.compile(r"\bt_[0-9a-f]{32}\b")
PLANNABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


@dataclass
class Statement:
    connection: int
    query: str
    args: tuple[Any, ...]
    schema: str | None
    """The tenant scope's schema, or None outside any tenant scope."""
    transaction: int
    """Which transaction on that connection (0: none)."""

    def named_schemas(self) -> set[str]:
        """Tenant schemas the text names (a scope never needs to name its own)."""
        return set(TENANT_SCHEMA.findall(self.query))

    def plannable(self) -> bool:
        single = ";" not in self.query.strip().rstrip(";")
        return single and self.query.lstrip().upper().startswith(PLANNABLE)


class Capture:
    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self._open: dict[int, tuple[str | None, int]] = {}
        self._numbers = itertools.count(1)

    def attach(self, connection: Any) -> None:
        connection.add_query_logger(partial(self._log, id(connection)))

    def _log(self, connection: int, record: Any) -> None:
        query = str(record.query).strip()
        word = query.split(None, 1)[0].upper().rstrip(";") if query else ""
        scope = SCOPE_BEGIN.match(query)
        if scope:
            self._open[connection] = (scope.group(1), next(self._numbers))
        elif word in ("BEGIN", "START"):
            self._open[connection] = (None, next(self._numbers))
        elif word in ("COMMIT", "ROLLBACK", "END", "ABORT"):
            self._open.pop(connection, None)
        else:
            schema, number = self._open.get(connection, (None, 0))
            self.statements.append(
                Statement(connection, query, tuple(record.args or ()), schema, number)
            )

    def in_tenant_scopes(self) -> list[Statement]:
        return [s for s in self.statements if s.schema is not None]

    def outside_scopes(self) -> list[Statement]:
        return [s for s in self.statements if s.schema is None]


@asynccontextmanager
async def capturing() -> AsyncIterator[Capture]:
    """Swap the process's pool for one whose connections log every statement, then back."""
    capture = Capture()

    async def init(connection: Any) -> None:
        capture.attach(connection)

    await close_pool()
    await DB.start_connection_pool(min_size=1, max_size=get_settings().db_pool_max, init=init)
    try:
        yield capture
    finally:
        await asyncio.sleep(0.05)  # the logger reports through loop.call_soon
        await close_pool()
        await open_pool()


def _relations(node: Any, out: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _relations(item, out)
    elif isinstance(node, dict):
        if "Relation Name" in node:
            out.add(f"{node.get('Schema')}.{node['Relation Name']}")
        if "Function Name" in node and "Schema" in node:
            out.add(f"{node['Schema']}.{node['Function Name']}()")
        for value in node.values():
            if isinstance(value, list | dict):
                _relations(value, out)


async def touched(statements: list[Statement]) -> list[tuple[Statement, set[str]]]:
    """Each plannable statement with the schema-qualified relations its plan touches, planned
    (not run) in the search_path it ran in."""
    out: list[tuple[Statement, set[str]]] = []
    conn = await DB.get_new_connection()
    try:
        by_schema: dict[str, list[Statement]] = {}
        for s in statements:
            if s.plannable():
                by_schema.setdefault(s.schema or NO_SCHEMA, []).append(s)
        for schema, group in by_schema.items():
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                for s in group:
                    plan = await conn.fetchval(f"EXPLAIN (VERBOSE, FORMAT JSON) {s.query}", *s.args)
                    relations: set[str] = set()
                    _relations(json.loads(plan), relations)
                    out.append((s, relations))
    finally:
        await conn.close()
    return out
