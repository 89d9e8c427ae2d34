"""Two migration tracks, applied by our own runner.

Migration files are Piccolo `MigrationManager` modules (generated with `wisp makemigrations`)
whose `RAW` list, applied after the Piccolo operations, holds the raw DDL declared next to the
tables (`tenants/ddl.py`).
Piccolo's own runner keeps one `migration` table found through every schema, so it cannot tell
tenants apart; ours records applied ids in a `wisp_migration` table inside each schema and runs
each schema's pending migrations in one transaction scoped to that schema, so a tenant is never
half migrated and a failed tenant is retried by the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from app.core.db import DB
from tenants.orm import run_forwards
from tenants.registry import TEMPLATE_SCHEMA, all_tenants
from tenants.scope import schema_scope

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Held (session-level) while the template is migrated and the tenant list is read; tenant
# creation takes it shared, so no tenant is cloned from a template that is being changed.
TEMPLATE_LOCK = 7_316_221

MIGRATION_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS wisp_migration ("
    " id varchar(64) PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
)


@dataclass(frozen=True)
class Track:
    name: str
    folder: Path

    def declared_ddl(self) -> list[str]:
        """The raw DDL the track's tables declare (its `piccolo_app.RAW_DDL`)."""
        app = importlib.import_module(f"migrations.{self.name}.piccolo_app")
        return list(app.RAW_DDL)

    def modules(self) -> dict[str, ModuleType]:
        found: dict[str, ModuleType] = {}
        for path in sorted(self.folder.glob("*.py")):
            if path.name in {"__init__.py", "piccolo_app.py"}:
                continue
            name = f"wisp_migrations.{self.name}.{path.stem}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec
                assert spec.loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            migration_id = getattr(module, "ID", None)
            if migration_id:
                found[str(migration_id)] = module
        return dict(sorted(found.items()))


PUBLIC = Track("public", MIGRATIONS_DIR / "public")
TENANT = Track("tenant", MIGRATIONS_DIR / "tenant")


@dataclass
class SchemaReport:
    schema: str
    label: str
    applied: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(schema.encode()).digest()[:8], "big", signed=True)


async def applied_ids(connection: Any) -> set[str]:
    rows = await connection.fetch("SELECT id FROM wisp_migration")
    return {r["id"] for r in rows}


async def migrate_schema(
    schema: str, track: Track, label: str | None = None, *, create: bool = False
) -> SchemaReport:
    """Apply the track's pending migrations to one schema, atomically.

    Only `public` and the template may be created here: a tenant whose schema is missing is
    reported as failed, never silently rebuilt empty.
    """
    report = SchemaReport(schema=schema, label=label or schema)
    modules = track.modules()
    try:
        async with schema_scope(schema) as connection:
            if create:
                await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            elif not await connection.fetchval(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1", schema
            ):
                raise LookupError(f"schema {schema} does not exist")
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
            await connection.execute(MIGRATION_TABLE_DDL)
            done = await applied_ids(connection)
            for migration_id, module in modules.items():
                if migration_id in done:
                    continue
                await run_forwards(module)
                for statement in getattr(module, "RAW", ()):
                    await connection.execute(statement)
                await connection.execute(
                    "INSERT INTO wisp_migration (id) VALUES ($1)", migration_id
                )
                report.applied.append(migration_id)
    except Exception as exc:
        report.applied = []
        report.error = "".join(traceback.format_exception_only(exc)).strip()
    return report


async def migrate_public() -> SchemaReport:
    return await migrate_schema("public", PUBLIC, create=True)


@dataclass
class MigrationRun:
    public: SchemaReport
    template: SchemaReport
    tenants: list[SchemaReport]

    @property
    def failed(self) -> list[SchemaReport]:
        return [r for r in [self.public, self.template, *self.tenants] if not r.ok]


async def migrate_many(
    schemas: list[tuple[str, str]],
    track: Track,
    on_done: Callable[[SchemaReport], None] | None = None,
    concurrency: int = 4,
) -> list[SchemaReport]:
    """Migrate each (schema, label) in its own transaction, a few at a time, in input order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(schema: str, label: str) -> SchemaReport:
        async with semaphore:
            report = await migrate_schema(schema, track, label)
        if on_done:
            on_done(report)
        return report

    return list(await asyncio.gather(*(one(s, label) for s, label in schemas)))


async def migrate_all(
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[SchemaReport], None] | None = None,
    concurrency: int = 4,
) -> MigrationRun:
    """`public`, then the template, then every tenant; one tenant's failure stops no other."""
    public = await migrate_public()
    if not public.ok:
        empty = SchemaReport(TEMPLATE_SCHEMA, "template", error="public track failed")
        return MigrationRun(public=public, template=empty, tenants=[])
    lock_conn = await DB.get_new_connection()
    try:
        await lock_conn.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        template = await migrate_schema(TEMPLATE_SCHEMA, TENANT, "template", create=True)
        tenants = await all_tenants()
    finally:
        await lock_conn.close()
    if on_start:
        on_start(len(tenants))
    reports = await migrate_many(
        [(t.schema, t.slug) for t in tenants], TENANT, on_done, concurrency
    )
    return MigrationRun(public=public, template=template, tenants=reports)
