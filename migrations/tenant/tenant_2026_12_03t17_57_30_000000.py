import hashlib
import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-03T17:57:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "documents are snapshots: frozen invoices, append-only lines, existing ones frozen"

STATEMENTS = [
    "CREATE TRIGGER issuer_snapshot_append_only BEFORE UPDATE OR DELETE ON issuer_snapshot"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER invoice_line_append_only BEFORE UPDATE OR DELETE ON invoice_line"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_forbid_change()",
    "CREATE TRIGGER invoice_issued_frozen BEFORE UPDATE OR DELETE ON invoice"
    " FOR EACH ROW EXECUTE FUNCTION public.wisp_invoice_frozen()",
]


async def freeze_existing():
    """Documents issued before snapshots existed keep the seller as the settings say now (the
    best record there is), frozen here once. The JSON is written exactly as
    `app.billing.snapshots.Issuer.to_json` (version 1) writes it, so later documents with the
    same details share the row; the code is copied, not imported, so this migration never
    changes with the app."""
    conn = engine_finder().current_transaction.get().connection
    if not await conn.fetchval("SELECT 1 FROM invoice WHERE issuer_id IS NULL LIMIT 1"):
        return
    conf = await conn.fetchrow(
        "SELECT legal_name, legal_address, tax_id, tax_label FROM billing_settings"
        " WHERE singleton"
    )
    company = await conn.fetchval(
        "SELECT name FROM public.tenant WHERE schema_name = current_schema()"
    )
    data = {
        "v": 1,
        "name": (conf["legal_name"] if conf else "") or company or "",
        "address": conf["legal_address"] if conf else "",
        "tax_id": conf["tax_id"] if conf else "",
        "tax_label": conf["tax_label"] if conf else "Tax",
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    await conn.execute(
        "INSERT INTO issuer_snapshot (id, digest, data, created_at)"
        " VALUES (gen_random_uuid(), $1, $2::jsonb, now()) ON CONFLICT (digest) DO NOTHING",
        digest,
        text,
    )
    await conn.execute(
        "UPDATE invoice SET issuer_id = (SELECT id FROM issuer_snapshot WHERE digest = $1)"
        " WHERE issuer_id IS NULL",
        digest,
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenant", description=DESCRIPTION)

    async def frozen():
        # Backfill first: the frozen-invoice trigger allows it anyway (NULL to a snapshot).
        await freeze_existing()
        for statement in STATEMENTS:
            await engine_finder().run_ddl(statement)

    manager.add_raw(frozen)
    return manager
