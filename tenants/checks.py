"""Comparing table classes with migration files, and writing new migration files."""

from __future__ import annotations

import contextlib
import io
import os
from itertools import chain

from piccolo.apps.migrations.commands.new import (
    AutoMigrationManager,
    NoChanges,
    _create_new_migration,
)
from piccolo.conf.apps import AppConfig

from migrations.public.piccolo_app import APP_CONFIG as PUBLIC_TRACK
from migrations.tenant.piccolo_app import APP_CONFIG as TENANT_TRACK


def _app_config(track: str) -> AppConfig:
    return PUBLIC_TRACK if track == "public" else TENANT_TRACK


async def migration_drift() -> dict[str, list[str]]:
    drift: dict[str, list[str]] = {}
    for track in ("public", "tenant"):
        # Piccolo prints a summary table while diffing; the command prints its own verdict.
        with contextlib.redirect_stdout(io.StringIO()):
            statements = await AutoMigrationManager(auto_input="y").get_alter_statements(
                app_config=_app_config(track)
            )
        lines = list(chain(*[s.statements for s in statements]))
        if lines:
            drift[track] = lines
    return drift


async def make_migration(track: str, description: str) -> str | None:
    os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")
    try:
        meta = await _create_new_migration(
            app_config=_app_config(track), auto=True, description=description, auto_input="y"
        )
    except NoChanges:
        return None
    return str(meta.migration_path)
