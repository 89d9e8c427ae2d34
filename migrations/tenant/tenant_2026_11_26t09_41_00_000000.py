from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T09:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a payment's (method, reference) counts once"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenant", description=DESCRIPTION)

    async def unique_reference():
        # Partial: many payments legitimately have no reference (cash at the office).
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX payment_method_reference ON payment (method, reference)"
            " WHERE reference <> '' AND status = 'posted'"
        )

    manager.add_raw(unique_reference)
    return manager
