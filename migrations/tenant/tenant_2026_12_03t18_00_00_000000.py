from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "netstate: sites of existing entries; gateways re-fetch their state in full"

_HELD = "mac IS NOT NULL AND (enabled OR reason IS NOT NULL)"

STATEMENTS = [
    # Entries written before they named a site get the subscriber's site of today: the best
    # knowledge there is (the old sync filtered by it too). The log stays append-only for
    # everyone else: the trigger is off only inside this transaction.
    "ALTER TABLE netstate_change DISABLE TRIGGER netstate_change_append_only",
    "UPDATE netstate_change c SET site = coalesce(s.site,"
    " (SELECT ap.site FROM access_point ap WHERE ap.id = s.access_point))"
    " FROM subscriber s WHERE s.id = c.subscriber_id",
    "UPDATE netstate_change c SET previous_site = p.site FROM (SELECT id,"
    " lag(site) OVER w AS site, lag(" + _HELD + ") OVER w AS was_held FROM netstate_change"
    " WINDOW w AS (PARTITION BY subscriber_id ORDER BY version)) p"
    " WHERE p.id = c.id AND p.was_held",
    "ALTER TABLE netstate_change ENABLE TRIGGER netstate_change_append_only",
    # Each gateway's sites as in force from the start.
    "INSERT INTO gateway_site_set (id, gateway, version, site_ids, created_at)"
    " SELECT gen_random_uuid(), g.id, 0, coalesce((SELECT jsonb_agg(gs.site::text ORDER BY"
    " gs.site) FROM gateway_site gs WHERE gs.gateway = g.id), '[]'::jsonb), now() FROM gateway g",
    # A gateway may hold subscribers that moved away before this release (what it was never
    # told to forget): a new version and epoch make every gateway fetch its state in full, and
    # staff see it as not enforcing until it acknowledges that.
    "UPDATE netstate_version SET version = version + 1",
    "UPDATE gateway SET epoch = epoch + 1,"
    " sites_version = (SELECT coalesce(max(version), 0) FROM netstate_version)",
    "CREATE INDEX gateway_site_set_version ON gateway_site_set (gateway, version)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenant", description=DESCRIPTION)

    async def backfill():
        for statement in STATEMENTS:
            await engine_finder().run_ddl(statement)

    manager.add_raw(backfill)
    return manager
