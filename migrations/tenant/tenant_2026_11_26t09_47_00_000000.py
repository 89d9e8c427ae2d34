from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T09:47:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "provisioning: partial unique indexes, checks, append-only logs"

# `status::text IN (...)`: PostgreSQL prints such a check back in a form that parses to the same
# text again, so a tenant cloned from the template has byte-identical constraints.
STATEMENTS = [
    # A CPE MAC belongs to one live subscriber; a cancelled subscriber's MAC is free again.
    "CREATE UNIQUE INDEX subscriber_cpe_mac_live ON subscriber (cpe_mac)"
    " WHERE cpe_mac IS NOT NULL AND status <> 'cancelled'",
    "ALTER TABLE subscriber ADD CONSTRAINT subscriber_status_valid CHECK (status::text IN"
    " ('pending_installation', 'active', 'suspended', 'cancelled'))",
    # Never active (or suspended) without an authenticated CPE, whatever the code path.
    "ALTER TABLE subscriber ADD CONSTRAINT subscriber_installed_has_cpe CHECK"
    " (status::text NOT IN ('active', 'suspended')"
    " OR (cpe_mac IS NOT NULL AND cpe_authenticated_at IS NOT NULL))",
    "ALTER TABLE subscriber ADD CONSTRAINT subscriber_suspension_reason CHECK"
    " ((status = 'suspended') = (suspension_reason IS NOT NULL))",
    "CREATE INDEX subscriber_name_order ON subscriber (lower(name), id)",
    "CREATE INDEX subscriber_plan ON subscriber (plan)",
    "CREATE INDEX subscriber_site ON subscriber (site)",
    "CREATE INDEX subscriber_phone ON subscriber (phone)",
    "CREATE UNIQUE INDEX rate_plan_name_live ON rate_plan (lower(name))"
    " WHERE archived_at IS NULL",
    "ALTER TABLE rate_plan ADD CONSTRAINT rate_plan_money_not_negative CHECK"
    " (monthly_price >= 0 AND coalesce(setup_fee, 0) >= 0"
    " AND coalesce(tax_rate, 0) BETWEEN 0 AND 100)",
    "CREATE UNIQUE INDEX site_name ON site (lower(name))",
    "CREATE UNIQUE INDEX access_point_site_name ON access_point (site, lower(name))",
    "CREATE UNIQUE INDEX plan_change_one_pending ON plan_change (subscriber)"
    " WHERE applied_at IS NULL AND cancelled_at IS NULL",
    "CREATE INDEX work_order_newest ON work_order (created_at DESC, id DESC)",
    "CREATE INDEX work_order_technician ON work_order (technician)",
    "ALTER TABLE work_order ADD CONSTRAINT work_order_status_valid CHECK (status::text IN"
    " ('open', 'scheduled', 'in_progress', 'cpe_authenticated', 'activated', 'signed_off',"
    " 'cancelled'))",
    "CREATE INDEX netstate_change_subscriber_version ON netstate_change"
    " (subscriber_id, version DESC)",
    # The desired-state log and the status history are history: append-only.
    "CREATE TRIGGER netstate_change_append_only BEFORE UPDATE OR DELETE ON netstate_change"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER netstate_change_no_truncate BEFORE TRUNCATE ON netstate_change"
    " FOR EACH STATEMENT EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER subscriber_status_change_append_only BEFORE UPDATE OR DELETE"
    " ON subscriber_status_change FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenant", description=DESCRIPTION)

    async def constraints():
        for statement in STATEMENTS:
            await engine_finder().run_ddl(statement)

    manager.add_raw(constraints)
    return manager
