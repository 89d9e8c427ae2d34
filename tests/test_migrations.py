"""Tenant schemas: cloned from the template exactly, migrated per tenant, failures isolated."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from app.core.db import DB

CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, character_maximum_length, is_nullable,
               column_default, ordinal_position
        FROM information_schema.columns WHERE table_schema = $1
        ORDER BY table_name, ordinal_position""",
    "constraints": """
        SELECT c.conrelid::regclass::text AS tbl, c.conname, c.contype,
               pg_get_constraintdef(c.oid) AS def
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = $1 ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1
        ORDER BY 1, 2""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid, true) AS def
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY 1, 2""",
    "migrations": "SELECT id FROM {schema}.wisp_migration ORDER BY id",
}


async def describe(schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """The schema's structure with its own name taken out, so two schemas compare equal."""
    conn = await DB.get_new_connection()
    try:
        await conn.execute("SELECT set_config('search_path', $1, false)", f'"{schema}"')
        out: dict[str, list[tuple[Any, ...]]] = {}
        for name, sql in CATALOG_QUERIES.items():
            if "{schema}" in sql:
                rows = await conn.fetch(sql.format(schema=f'"{schema}"'))
            else:
                rows = await conn.fetch(sql, schema)
            out[name] = [
                tuple(str(v).replace(f"{schema}.", "<s>.") for v in r.values()) for r in rows
            ]
        return out
    finally:
        await conn.close()


async def drop(*schemas: str) -> None:
    conn = await DB.get_new_connection()
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def test_cloned_schema_equals_a_freshly_migrated_one(app: Any) -> None:
    from tenants.migrate import TENANT, migrate_schema
    from tenants.provision import create_schema

    fresh = f"test_fresh_{secrets.token_hex(4)}"
    cloned = f"test_clone_{secrets.token_hex(4)}"
    try:
        report = await migrate_schema(fresh, TENANT, create=True)
        assert report.ok, report.error
        assert report.applied
        async with DB.transaction() as tx:
            await create_schema(tx.connection, cloned)
        a, b = await describe(fresh), await describe(cloned)
        assert a["columns"], "the fresh schema has tables"
        assert a["triggers"], "the append-only triggers are part of the comparison"
        for part in CATALOG_QUERIES:
            assert a[part] == b[part], part
    finally:
        await drop(fresh, cloned)


async def test_audit_log_is_append_only(make_tenant: Any) -> None:
    import asyncpg
    import pytest

    from app.core.audit import AuditEvent
    from tenants.registry import tenant_by_slug
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    async with tenant_scope(tenant):
        assert await AuditEvent.count() >= 2  # signup and sign-in
    for statement in (
        AuditEvent.update({AuditEvent.action: "rewritten"}, force=True),
        AuditEvent.delete(force=True),
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with tenant_scope(tenant):
                await statement
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_scope(tenant) as scope:
            await scope.connection.execute("TRUNCATE audit_event")


def _write_migration(folder: Path, migration_id: str, sql: str) -> None:
    name = "m_" + migration_id.replace("-", "_").replace(":", "_")
    (folder / f"{name}.py").write_text(
        "from piccolo.apps.migrations.auto.migration_manager import MigrationManager\n"
        "from piccolo.engine import engine_finder\n\n"
        f"ID = {migration_id!r}\n\n\n"
        "async def forwards():\n"
        "    manager = MigrationManager(migration_id=ID, app_name='t')\n\n"
        "    async def run():\n"
        f"        await engine_finder().run_ddl({sql!r})\n\n"
        "    manager.add_raw(run)\n"
        "    return manager\n"
    )


async def test_one_failing_tenant_does_not_stop_the_others_and_a_rerun_resumes(
    app: Any, tmp_path: Path
) -> None:
    from tenants.migrate import Track, migrate_many
    from tenants.provision import create_schema

    schemas = [f"test_mig_{secrets.token_hex(4)}" for _ in range(3)]
    try:
        for schema in schemas:
            async with DB.transaction() as tx:
                await create_schema(tx.connection, schema)
        # The middle tenant already has a table the migration wants to create: it fails there.
        conn = await DB.get_new_connection()
        await conn.execute(f'CREATE TABLE "{schemas[1]}".extra_thing (id int)')
        await conn.close()
        folder = tmp_path / "track"
        folder.mkdir()
        _write_migration(folder, "2099-01-01T00:00:00:000001", "CREATE TABLE extra_thing (id int)")
        _write_migration(folder, "2099-01-01T00:00:00:000002", "CREATE TABLE extra_two (id int)")
        track = Track(f"t{secrets.token_hex(3)}", folder)
        done: list[str] = []
        reports = await migrate_many(
            [(s, s) for s in schemas], track, on_done=lambda r: done.append(r.label)
        )
        assert sorted(done) == sorted(schemas)
        assert [r.ok for r in reports] == [True, False, True]
        assert "extra_thing" in (reports[1].error or "")
        assert reports[0].applied == [
            "2099-01-01T00:00:00:000001",
            "2099-01-01T00:00:00:000002",
        ]
        # The failed tenant is untouched (its migration was atomic): no extra_two, no record.
        conn = await DB.get_new_connection()
        try:
            assert not await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f'"{schemas[1]}".extra_two'
            )
            await conn.execute(f'DROP TABLE "{schemas[1]}".extra_thing')
        finally:
            await conn.close()
        # Fixed, a rerun applies only what is pending, and only where it is pending.
        again = await migrate_many([(s, s) for s in schemas], track)
        assert [r.applied for r in again] == [
            [],
            ["2099-01-01T00:00:00:000001", "2099-01-01T00:00:00:000002"],
            [],
        ]
        assert all(r.ok for r in again)
    finally:
        await drop(*schemas)


async def test_migrate_command_reports_every_tenant(app: Any, make_tenant: Any) -> None:
    import os
    import subprocess
    import sys

    tc = await make_tenant()
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Migration report" in out.stdout
    assert "template" in out.stdout
    assert tc.slug in out.stdout or "tenants:" in out.stdout


async def test_check_passes_when_tables_match_migrations(app: Any) -> None:
    from tenants.checks import migration_drift

    assert await migration_drift() == {}


async def test_check_fails_when_a_table_has_no_migration(app: Any) -> None:
    from piccolo.columns import Varchar
    from piccolo.table import Table

    from migrations.tenant.piccolo_app import APP_CONFIG
    from tenants.checks import migration_drift

    class Stray(Table, tablename="stray_thing"):
        nickname = Varchar(length=10)

    APP_CONFIG.table_classes.append(Stray)
    try:
        drift = await migration_drift()
    finally:
        APP_CONFIG.table_classes.remove(Stray)
    assert "tenant" in drift
    assert any("stray_thing" in s for s in drift["tenant"])


# Raw DDL declared next to the tables (tenants/ddl.py) ------------------------------------------


async def test_every_declared_raw_object_exists_in_a_tenant(make_tenant: Any) -> None:
    from tenants import ddl
    from tenants.migrate import TENANT
    from tenants.registry import tenant_by_slug

    tc = await make_tenant()
    tenant = await tenant_by_slug(tc.slug)
    assert tenant
    structure = await describe(tenant.schema)
    names = {r[1] for r in structure["indexes"]} | {r[1] for r in structure["constraints"]}
    names |= {r[1] for r in structure["triggers"]}
    declared = ddl.declared(TENANT.declared_ddl())
    assert declared, "the tenant track declares raw DDL"
    assert set(declared) <= names, set(declared) - names


async def test_check_fails_when_declared_ddl_has_no_migration(monkeypatch: Any) -> None:
    import migrations.tenant.piccolo_app as tenant_app
    from tenants.checks import migration_drift

    statement = "CREATE INDEX subscriber_probe ON subscriber (created_at)"
    monkeypatch.setattr(tenant_app, "RAW_DDL", [*tenant_app.RAW_DDL, statement])
    drift = await migration_drift()
    assert drift.get("tenant") == [f"missing: {statement}"]


def test_raw_ddl_replays_creates_and_drops_and_writes_the_difference() -> None:
    from types import SimpleNamespace

    from tenants import ddl

    first = SimpleNamespace(
        RAW=[
            "CREATE UNIQUE INDEX a_name ON a (lower(name))",
            "ALTER TABLE a ADD CONSTRAINT a_positive CHECK (n > 0)",
            "CREATE TRIGGER a_frozen BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION f()",
        ]
    )
    second = SimpleNamespace(RAW=["ALTER TABLE a DROP CONSTRAINT a_positive"])
    migrated = ddl.applied([first, second])
    assert set(migrated) == {"a_name", "a_frozen"}
    wanted = ddl.declared(
        [
            "CREATE UNIQUE INDEX a_name ON a (lower(name), id)",
            "ALTER TABLE a ADD CONSTRAINT a_small CHECK (n < 10)",
        ]
    )
    found = ddl.drift(wanted, migrated)
    assert found.extra == ["a_frozen"] and set(found.changed) == {"a_name"}
    assert ddl.statements_for(found, migrated) == [
        "DROP TRIGGER a_frozen ON a",
        "DROP INDEX a_name",
        "CREATE UNIQUE INDEX a_name ON a (lower(name), id)",
        "ALTER TABLE a ADD CONSTRAINT a_small CHECK (n < 10)",
    ]
    third = SimpleNamespace(RAW=ddl.statements_for(found, migrated))
    assert not ddl.drift(wanted, ddl.applied([first, second, third]))
