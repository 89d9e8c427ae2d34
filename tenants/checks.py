"""Comparing table classes and their declared raw DDL with the migration files, and writing new
migration files for the difference."""

from __future__ import annotations

import pprint
from pathlib import Path

from migrations.public.piccolo_app import APP_CONFIG as PUBLIC_APP
from migrations.tenant.piccolo_app import APP_CONFIG as TENANT_APP
from tenants import ddl
from tenants.migrate import PUBLIC, TENANT, Track
from tenants.orm import table_drift, write_table_migration

TRACKS = {"public": (PUBLIC_APP, PUBLIC), "tenant": (TENANT_APP, TENANT)}


def raw_drift(track: Track) -> ddl.RawDrift:
    return ddl.drift(ddl.declared(track.declared_ddl()), ddl.applied(track.modules().values()))


async def migration_drift() -> dict[str, list[str]]:
    """Per track, what the migration files lack: table changes and raw DDL."""
    found: dict[str, list[str]] = {}
    for name, (app_config, track) in TRACKS.items():
        lines = await table_drift(app_config) + raw_drift(track).lines()
        if lines:
            found[name] = lines
    return found


async def make_migration(track_name: str, description: str) -> str | None:
    """Write the migration for the tables' changes, with the raw DDL's difference as its `RAW`
    (in a migration of its own when no table changed). None when nothing changed."""
    app_config, track = TRACKS[track_name]
    migrated = ddl.applied(track.modules().values())
    pending = ddl.drift(ddl.declared(track.declared_ddl()), migrated)
    path = await write_table_migration(app_config, description)
    if not pending:
        return path
    if path is None:
        path = await write_table_migration(app_config, description, empty=True)
        assert path is not None
    _append_raw(Path(path), ddl.statements_for(pending, migrated))
    return path


def _append_raw(path: Path, raw: list[str]) -> None:
    with path.open("a") as out:
        out.write("\n\n# Raw DDL declared next to the tables (tenants/ddl.py), applied after")
        out.write(f" the above.\nRAW = {pprint.pformat(raw, width=96)}\n")
