from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T09:52:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "gateways: composite indexes and checks"

STATEMENTS = [
    "CREATE UNIQUE INDEX gateway_site_pair ON gateway_site (gateway, site)",
    # A duplicate telemetry sample (a retry) is ignored by ON CONFLICT on this index.
    "CREATE UNIQUE INDEX gateway_sample_seq ON gateway_sample (gateway, seq)",
    "CREATE INDEX gateway_sample_ts ON gateway_sample (gateway, ts)",
    "CREATE UNIQUE INDEX subscriber_usage_bucket ON subscriber_usage (subscriber, gateway, hour)",
    # At most one live enrollment token per gateway: issuing a new one revokes the old.
    "CREATE UNIQUE INDEX gateway_enrollment_token_live ON gateway_enrollment_token (gateway)"
    " WHERE used_at IS NULL AND revoked_at IS NULL",
    "ALTER TABLE gateway_command ADD CONSTRAINT gateway_command_status_valid CHECK (status IN"
    " ('pending', 'delivered', 'done', 'failed', 'expired'))",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenant", description=DESCRIPTION)

    async def indexes():
        for statement in STATEMENTS:
            await engine_finder().run_ddl(statement)

    manager.add_raw(indexes)
    return manager
