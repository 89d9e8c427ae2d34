from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T18:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tenants that signed up before owner confirmation existed count as confirmed"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="public", description=DESCRIPTION)

    async def confirm_existing_tenants():
        # Their owners were never asked; refusing them mail and gateways now would break
        # running WISPs. Every later signup writes its own unconfirmed row.
        await engine_finder().run_ddl(
            "INSERT INTO public.owner_confirmation (tenant, owner_email, confirmed_at, created_at)"
            " SELECT id, '', now(), now() FROM public.tenant"
            " ON CONFLICT (tenant) DO NOTHING"
        )

    manager.add_raw(confirm_existing_tenants)
    return manager
