"""What lets tenant schemas later be spread over nodes by Citus schema-based sharding.

`citus_schema_distribute` moves a whole schema to one node; it refuses foreign keys that leave
the schema (or enter it from another), and a tenant's statements can only run there if each one
stays inside that schema. Checked on real schemas: two tenants signed up through the API (cloned
from the template) and the template itself. The docs say how a deployment moves to Citus
(docs/ARCHITECTURE.md, "Moving to a Citus cluster").

Every tenant statement of a sample workload is captured with asyncpg's query logger on every
pooled connection (pg_stat_statements is not loadable here without a server restart, and the
server's log is shared), then re-planned with EXPLAIN VERBOSE in its tenant's search_path to
read which relations it really touches; see test_statements_of_a_tenant_stay_in_its_schema.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest

from app.core.db import DB
from tests.conftest import TenantClient, sign_up
from tests.support.provisioning import make_plan, make_subscriber, new_mac, ok, tenant_ref
from tests.support.statements import capturing, touched
from tests.test_gateways_support import enrolled, gateway_client, make_site

SYSTEM = ("pg_catalog", "information_schema", "pg_toast")

# Natural keys of text type: allowed because no sequence stands behind them (what breaks on
# Citus workers is a sequence narrower than BIGINT). Any other key is UUID or BIGINT.
TEXT_KEYS = {
    ("idempotency_record", "key"): "the client's Idempotency-Key, unique per tenant",
    ("wisp_migration", "id"): "the migration's name",
}

# The objects outside a tenant schema that tenant objects use: the trigger functions in
# `public` (append-only logs, frozen issued documents). They only look at the row they are
# given (they read and write no table), so they run wherever the shard lives; Citus creates
# them on the node with the schema (a dependency of the triggers).
SHARED_FUNCTIONS = {"public.wisp_forbid_change()", "public.wisp_invoice_frozen()"}

# Registry rows read or written in the same transaction as the tenant's own rows (the
# gateways' credential index, app/gateways/registry.py; the owner's confirmation,
# tenants/confirmation.py). On Citus they are reference tables.
REGISTRY_IN_TENANT_TRANSACTIONS = {
    "public.gateway_token_lookup",
    "public.gateway_secret_lookup",
    "public.owner_confirmation",
}


async def catalog(sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await DB.get_new_connection()
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def schemas(app: Any) -> list[str]:
    """Two tenants' schemas, cloned at signup, and the migrated template they come from."""
    from tenants.registry import tenant_by_slug

    names = []
    for _ in range(2):
        tenant = await tenant_by_slug((await sign_up(app))[0])
        assert tenant is not None
        names.append(tenant.schema)
    assert len(set(names)) == 2
    tables = await catalog(
        "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
        names[0],
    )
    assert tables[0]["n"] > 20, "a real migrated tenant schema"
    return [*names, "tenant_template"]


# Every object pg_depend can link, with the schema it lives in; then each dependency whose two
# ends live in different schemas, one of them the schema under test.
CROSSING = """
    WITH owner(classid, objid, ns) AS (
      SELECT 'pg_class'::regclass, oid, relnamespace FROM pg_class
      UNION ALL SELECT 'pg_type'::regclass, oid, typnamespace FROM pg_type
      UNION ALL SELECT 'pg_proc'::regclass, oid, pronamespace FROM pg_proc
      UNION ALL SELECT 'pg_constraint'::regclass, oid, connamespace FROM pg_constraint
      UNION ALL SELECT 'pg_trigger'::regclass, t.oid, c.relnamespace
                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      UNION ALL SELECT 'pg_attrdef'::regclass, d.oid, c.relnamespace
                FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
      UNION ALL SELECT 'pg_rewrite'::regclass, r.oid, c.relnamespace
                FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
      UNION ALL SELECT 'pg_policy'::regclass, p.oid, c.relnamespace
                FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
      UNION ALL SELECT 'pg_extension'::regclass, oid, extnamespace FROM pg_extension
      UNION ALL SELECT 'pg_namespace'::regclass, oid, oid FROM pg_namespace
    )
    SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS what,
           pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) AS uses,
           o.ns::regnamespace::text AS schema, r.ns::regnamespace::text AS ref_schema
    FROM pg_depend d
    JOIN owner o ON o.classid = d.classid AND o.objid = d.objid
    JOIN owner r ON r.classid = d.refclassid AND r.objid = d.refobjid
    WHERE o.ns <> r.ns AND $1::regnamespace IN (o.ns, r.ns)
      AND o.ns::regnamespace::text <> ALL($2::text[])
      AND r.ns::regnamespace::text <> ALL($2::text[])"""


async def test_no_foreign_key_leaves_or_enters_a_tenant_schema(schemas: list[str]) -> None:
    for schema in schemas:
        crossing = await catalog(
            "SELECT conname, conrelid::regclass::text AS src, confrelid::regclass::text AS dst"
            " FROM pg_constraint c"
            " JOIN pg_class a ON a.oid = c.conrelid JOIN pg_class b ON b.oid = c.confrelid"
            " WHERE c.contype = 'f' AND a.relnamespace <> b.relnamespace"
            " AND $1::regnamespace IN (a.relnamespace, b.relnamespace)",
            schema,
        )
        assert crossing == [], (schema, crossing)
        inside = await catalog(
            "SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f'"
            " AND connamespace = $1::regnamespace",
            schema,
        )
        assert inside[0]["n"] > 10, "the query above sees this schema's foreign keys"


async def test_no_object_in_or_out_of_a_tenant_schema_depends_across_it(
    schemas: list[str],
) -> None:
    """Foreign keys, views, defaults, column types, triggers, indexes: PostgreSQL records every
    reference between objects in pg_depend, so one query finds any that crosses the border."""
    for schema in schemas:
        rows = await catalog(CROSSING, schema, list(SYSTEM))
        outside = [
            r
            for r in rows
            if not (
                r["schema"] == schema
                and r["what"].startswith("trigger ")
                and r["uses"].startswith("function ")
                and r["uses"].removeprefix("function ") in SHARED_FUNCTIONS
            )
        ]
        assert outside == [], (schema, outside)
        uses_shared = [r for r in rows if r["uses"].startswith("function ")]
        assert uses_shared, "the append-only triggers' dependency is seen (the query works)"


async def test_the_shared_trigger_function_touches_no_table() -> None:
    rows = await catalog(
        "SELECT p.oid::regprocedure::text AS fn, p.prosrc FROM pg_proc p"
        " WHERE p.oid::regprocedure::text = ANY($1::text[])",
        list(SHARED_FUNCTIONS),  # qualified: the pool's search_path names no schema
    )
    assert len(rows) == len(SHARED_FUNCTIONS)
    for row in rows:
        body = re.sub(r"'[^']*'", "''", row["prosrc"])  # messages may say anything
        # Comparing the old row with the new one reads no table.
        body = re.sub(r"\bis\s+(not\s+)?distinct\s+from\b", "", body, flags=re.I)
        assert not re.search(r"\b(from|join|into|update|delete|insert|execute)\b", body, re.I), row


async def test_no_sequence_serial_or_identity_column_in_a_tenant_schema(
    schemas: list[str],
) -> None:
    for schema in schemas:
        sequences = await catalog(
            "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = $1::regnamespace",
            schema,
        )
        assert sequences == [], (schema, sequences)
        generated = await catalog(
            "SELECT c.relname, a.attname, a.attidentity, pg_get_expr(d.adbin, d.adrelid) AS def"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE c.relnamespace = $1::regnamespace AND a.attnum > 0 AND NOT a.attisdropped"
            " AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) ILIKE '%nextval%')",
            schema,
        )
        assert generated == [], (schema, generated)


async def test_every_primary_key_is_uuid_or_bigint(schemas: list[str]) -> None:
    for schema in schemas:
        keys = await catalog(
            "SELECT c.relname AS tbl, a.attname AS col, format_type(a.atttypid, NULL) AS type"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indisprimary AND c.relnamespace = $1::regnamespace",
            schema,
        )
        tables = await catalog(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p')"
            " AND relnamespace = $1::regnamespace",
            schema,
        )
        assert {k["tbl"] for k in keys} == {t["relname"] for t in tables}, "every table has one"
        odd = [
            k
            for k in keys
            if k["type"] not in ("uuid", "bigint") and (k["tbl"], k["col"]) not in TEXT_KEYS
        ]
        assert odd == [], (schema, odd)
        text = [k for k in keys if (k["tbl"], k["col"]) in TEXT_KEYS]
        assert all(k["type"] in ("character varying", "text") for k in text), text


async def test_no_view_function_or_foreign_table_in_a_tenant_schema_names_another(
    schemas: list[str],
) -> None:
    tenant_schema = re.compile(r"\b(t_[0-9a-f]{32}|tenant_template|public)\b")
    for schema in schemas:
        views = await catalog(
            "SELECT relname, pg_get_viewdef(oid) AS def FROM pg_class"
            " WHERE relkind IN ('v', 'm') AND relnamespace = $1::regnamespace",
            schema,
        )
        functions = await catalog(
            "SELECT proname, prosrc AS def FROM pg_proc WHERE pronamespace = $1::regnamespace",
            schema,
        )
        for obj in views + functions:
            assert not tenant_schema.search(obj["def"].replace(schema, "")), (schema, obj)
        # Citus refuses these in a distributed schema: foreign tables, inheritance across it.
        refused = await catalog(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = $1::regnamespace"
            " AND (c.relkind = 'f' OR EXISTS (SELECT 1 FROM pg_inherits i"
            " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class k ON k.oid = i.inhrelid"
            " WHERE c.oid IN (p.oid, k.oid) AND p.relnamespace <> k.relnamespace))",
            schema,
        )
        assert refused == [], (schema, refused)


# Every tenant statement stays in its schema ------------------------------------------------------


async def _workload(app: Any, tc: TenantClient) -> str:
    """A sample of what a tenant does all day, through the API and the gateway protocol."""
    today = dt.date.today().isoformat()
    plan = await make_plan(tc)
    site = await make_site(tc)
    ap = ok(
        await tc.post(
            "/api/v1/access-points",
            json={"name": "AP 1", "site_id": site["id"], "frequency_mhz": 5800},
        ),
        201,
    )
    sub = await make_subscriber(tc, plan["id"], site_id=site["id"])
    wo = f"/api/v1/work-orders/{sub['installation_work_order_id']}"
    ok(await tc.post(f"{wo}/schedule", json={"install_date": today}))
    ok(await tc.post(f"{wo}/start"))
    mac = new_mac()
    ok(await tc.post(f"{wo}/authenticate-cpe", json={"cpe_mac": mac, "access_point_id": ap["id"]}))
    ok(await tc.post(f"{wo}/activate"))
    ok(await tc.post(f"{wo}/sign-off", json={"signed_by": "Ana"}))
    _, secret = await enrolled(tc, site_ids=[site["id"]])
    async with gateway_client(app, secret) as gw:
        state = ok(await gw.get("/gateway/v1/state"))
        ok(await gw.post("/gateway/v1/ack", json={"version": state["version"]}))
        sample = {"seq": 1, "wan_rx_bytes": 1000, "wan_tx_bytes": 2000}
        ok(await gw.post("/gateway/v1/telemetry", json={"samples": [sample]}))
        ok(await gw.post("/gateway/v1/portal", json={"mac": mac}))
    ok(await tc.post("/api/v1/billing/runs", json={"as_of": today}), 201)
    invoices = ok(await tc.get(f"/api/v1/invoices?subscriber_id={sub['id']}"))["items"]
    assert invoices, "the billing run invoiced the new subscriber"
    payment = {"subscriber_id": sub["id"], "amount": invoices[0]["total"], "method": "cash"}
    ok(await tc.post("/api/v1/payments", json=payment), 201)
    ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/suspend", json={"reason": "admin"}))
    ok(await tc.post(f"/api/v1/subscribers/{sub['id']}/resume"))
    invite = {"email": f"tech@{tc.slug}.example.com", "role": "technical"}
    ok(await tc.post("/api/v1/staff/invitations", json=invite), 201)
    for path in (
        "/api/v1/subscribers?q=Subscriber",
        f"/api/v1/subscribers/{sub['id']}/history",
        f"/api/v1/subscribers/{sub['id']}/enforcement",
        "/api/v1/work-orders",
        "/api/v1/staff",
        "/api/v1/audit-log",
        "/api/v1/reports/billing/aging",
        "/api/v1/reports/billing/subscribers",
        "/api/v1/gateways",
        "/api/v1/auth/me",
    ):
        ok(await tc.get(path))
    return str(sub["id"])


async def test_statements_of_a_tenant_stay_in_its_schema(
    app: Any, two_tenants: tuple[TenantClient, TenantClient]
) -> None:
    """What Citus needs to route each tenant statement to the one node holding the schema: no
    statement in a tenant scope names or touches another tenant's schema or mixes its own
    tables with `public`; public registry rows written in a tenant's transaction are only the
    gateways' credential index; statements outside any scope touch no tenant schema."""
    a, b = two_tenants
    own = {(await tenant_ref(tc)).schema for tc in (a, b)}
    async with capturing() as capture:
        a_sub, _ = await asyncio.gather(_workload(app, a), _workload(app, b))
        # The other tenant's ids answer 404: asked in B's own schema, found nowhere.
        assert (await b.get(f"/api/v1/subscribers/{a_sub}")).status_code == 404

    scoped = capture.in_tenant_scopes()
    for schema in own:
        assert sum(s.schema == schema for s in scoped) > 100, "the workload ran in both tenants"

    for s in scoped:
        assert s.named_schemas() <= {s.schema}, s
    for s in capture.outside_scopes():
        assert not s.named_schemas(), s

    # Only asyncpg's reset of a released connection escapes EXPLAIN (several statements in
    # one); anything else new must be planned, or this test widened on purpose.
    unplanned = {s.query for s in capture.statements if not s.plannable()}
    assert all(q.startswith("SELECT pg_advisory_unlock_all();") for q in unplanned), unplanned

    by_transaction: dict[tuple[int, int], set[str]] = {}
    planned = await touched(capture.statements)
    assert len(planned) > 200, "EXPLAIN saw the workload"
    for s, relations in planned:
        # The catalogs (asyncpg's type introspection) are on every node.
        schemas = {r.split(".", 1)[0] for r in relations} - {"pg_catalog"}
        if s.schema is None:
            assert not schemas & own, s  # registry and sessions only
            continue
        assert len(schemas) <= 1, ("one statement, one schema", s, relations)
        assert schemas <= {s.schema, "public"}, (s, relations)
        if "public" in schemas:
            assert relations <= REGISTRY_IN_TENANT_TRANSACTIONS, (s, relations)
        by_transaction.setdefault((s.connection, s.transaction), set()).update(relations)
    touched_registry = set().union(*by_transaction.values()) & REGISTRY_IN_TENANT_TRANSACTIONS
    assert touched_registry, "the gateway enrollment's registry writes were seen"
