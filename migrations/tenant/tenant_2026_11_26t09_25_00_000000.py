from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T09:25:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit log is append-only"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenant", description=DESCRIPTION)

    async def append_only():
        await engine_finder().run_ddl(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event"
            " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()"
        )
        await engine_finder().run_ddl(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event"
            " FOR EACH STATEMENT EXECUTE FUNCTION public.wisp_forbid_change()"
        )

    manager.add_raw(append_only)
    return manager
