"""Creating a tenant's schema fast, by cloning the migrated template schema.

Replaying every migration for each signup grows slower with every migration; instead the DDL of
`tenant_template` is read from the catalog once per template version and replayed into the new
schema: tables (`LIKE ... INCLUDING` defaults, checks, identity, generated columns), then every
constraint, index and trigger under its own name, then the template's migration records. All of
it runs inside the caller's transaction, so a failed signup leaves no schema behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenants.migrate import TEMPLATE_LOCK
from tenants.registry import TEMPLATE_SCHEMA
from tenants.scope import set_search_path


@dataclass(frozen=True)
class CloneScript:
    version: str
    tables: list[str]
    statements: list[str]
    """Run with `search_path` set to the new schema; names inside are unqualified."""


_cache: dict[str, CloneScript] = {}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unqualify(ddl: str) -> str:
    """pg_get_indexdef and pg_get_triggerdef always name the table with its schema."""
    return ddl.replace(f" ON {TEMPLATE_SCHEMA}.", " ON ").replace(
        f" ON ONLY {TEMPLATE_SCHEMA}.", " ON ONLY "
    )


async def _template_version(connection: Any) -> str:
    row = await connection.fetchrow(
        "SELECT coalesce(max(id), '') AS v, count(*) AS n"
        f" FROM {_q(TEMPLATE_SCHEMA)}.wisp_migration"
    )
    return f"{row['v']}#{row['n']}"


async def _build_script(connection: Any, version: str) -> CloneScript:
    # With the template alone on the search path, pg_get_*def prints its names unqualified.
    await set_search_path(connection, TEMPLATE_SCHEMA)
    tables = [
        r["relname"]
        for r in await connection.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            TEMPLATE_SCHEMA,
        )
    ]
    statements = [
        f"CREATE TABLE {_q(t)} (LIKE {_q(TEMPLATE_SCHEMA)}.{_q(t)} INCLUDING DEFAULTS"
        " INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE"
        " INCLUDING COMMENTS)"
        for t in tables
    ]
    # CHECK constraints came with LIKE (re-parsing their text would reword them). Primary keys
    # and unique constraints first, so foreign keys find their targets.
    constraints = await connection.fetch(
        "SELECT c.conrelid::regclass::text AS tbl, c.conname,"
        " pg_get_constraintdef(c.oid) AS def, c.contype"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = $1 AND c.contype IN ('p', 'u', 'x', 'f') AND c.conrelid <> 0"
        " ORDER BY CASE c.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2"
        " WHEN 'c' THEN 3 ELSE 4 END, c.conname",
        TEMPLATE_SCHEMA,
    )
    for c in constraints:
        statements.append(f"ALTER TABLE {c['tbl']} ADD CONSTRAINT {_q(c['conname'])} {c['def']}")
    indexes = await connection.fetch(
        "SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN"
        " ('p', 'u', 'x')) ORDER BY c.relname",
        TEMPLATE_SCHEMA,
    )
    statements.extend(_unqualify(r["def"]) for r in indexes)
    triggers = await connection.fetch(
        "SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY t.tgname",
        TEMPLATE_SCHEMA,
    )
    statements.extend(_unqualify(r["def"]) for r in triggers)
    statements.append(
        f"INSERT INTO wisp_migration SELECT * FROM {_q(TEMPLATE_SCHEMA)}.wisp_migration"
    )
    return CloneScript(version=version, tables=tables, statements=statements)


async def create_schema(connection: Any, schema: str) -> None:
    """Create `schema` as a copy of the template's structure, inside the open transaction."""
    await connection.execute("SELECT pg_advisory_xact_lock_shared($1)", TEMPLATE_LOCK)
    version = await _template_version(connection)
    script = _cache.get(version)
    if script is None:
        script = await _build_script(connection, version)
        _cache.clear()
        _cache[version] = script
    await connection.execute(f"CREATE SCHEMA {_q(schema)}")
    await set_search_path(connection, schema)
    await connection.execute(";\n".join(script.statements))
