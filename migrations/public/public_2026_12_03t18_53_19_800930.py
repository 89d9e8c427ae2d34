from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import UUID
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Tenant(Table, tablename="tenant", schema="public"):
    id = UUID(
        default=UUID4(),
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name=None,
        secret=False,
    )


ID = "2026-12-03T18:53:19:800930"
VERSION = "1.38.0"
DESCRIPTION = "baseline: the tenant registry and platform-wide objects"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="public", description=DESCRIPTION
    )

    manager.add_table(
        class_name="Tenant", tablename="tenant", schema="public", columns=None
    )

    manager.add_table(
        class_name="GatewaySecretLookup",
        tablename="gateway_secret_lookup",
        schema="public",
        columns=None,
    )

    manager.add_table(
        class_name="TenantDomain",
        tablename="tenant_domain",
        schema="public",
        columns=None,
    )

    manager.add_table(
        class_name="GatewayTokenLookup",
        tablename="gateway_token_lookup",
        schema="public",
        columns=None,
    )

    manager.add_table(
        class_name="OwnerConfirmation",
        tablename="owner_confirmation",
        schema="public",
        columns=None,
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="id",
        db_column_name="id",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": UUID4(),
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="slug",
        db_column_name="slug",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 40,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="name",
        db_column_name="name",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 200,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="schema_name",
        db_column_name="schema_name",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 63,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="status",
        db_column_name="status",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "active",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="language",
        db_column_name="language",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 8,
            "default": "en",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="currency",
        db_column_name="currency",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 3,
            "default": "USD",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="timezone",
        db_column_name="timezone",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "UTC",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="Tenant",
        tablename="tenant",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewaySecretLookup",
        tablename="gateway_secret_lookup",
        column_name="secret_hash",
        db_column_name="secret_hash",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "",
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewaySecretLookup",
        tablename="gateway_secret_lookup",
        column_name="tenant",
        db_column_name="tenant",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Tenant,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewaySecretLookup",
        tablename="gateway_secret_lookup",
        column_name="gateway_id",
        db_column_name="gateway_id",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": UUID4(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewaySecretLookup",
        tablename="gateway_secret_lookup",
        column_name="expires_at",
        db_column_name="expires_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="TenantDomain",
        tablename="tenant_domain",
        column_name="id",
        db_column_name="id",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": UUID4(),
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="TenantDomain",
        tablename="tenant_domain",
        column_name="tenant",
        db_column_name="tenant",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Tenant,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="TenantDomain",
        tablename="tenant_domain",
        column_name="hostname",
        db_column_name="hostname",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 253,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="TenantDomain",
        tablename="tenant_domain",
        column_name="verified_at",
        db_column_name="verified_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="TenantDomain",
        tablename="tenant_domain",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewayTokenLookup",
        tablename="gateway_token_lookup",
        column_name="token_hash",
        db_column_name="token_hash",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "",
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewayTokenLookup",
        tablename="gateway_token_lookup",
        column_name="tenant",
        db_column_name="tenant",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Tenant,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": True,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewayTokenLookup",
        tablename="gateway_token_lookup",
        column_name="gateway_id",
        db_column_name="gateway_id",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": UUID4(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="GatewayTokenLookup",
        tablename="gateway_token_lookup",
        column_name="expires_at",
        db_column_name="expires_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="OwnerConfirmation",
        tablename="owner_confirmation",
        column_name="tenant",
        db_column_name="tenant",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Tenant,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": True,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="OwnerConfirmation",
        tablename="owner_confirmation",
        column_name="owner_email",
        db_column_name="owner_email",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 320,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="OwnerConfirmation",
        tablename="owner_confirmation",
        column_name="token_hash",
        db_column_name="token_hash",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="OwnerConfirmation",
        tablename="owner_confirmation",
        column_name="expires_at",
        db_column_name="expires_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="OwnerConfirmation",
        tablename="owner_confirmation",
        column_name="confirmed_at",
        db_column_name="confirmed_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    manager.add_column(
        table_class_name="OwnerConfirmation",
        tablename="owner_confirmation",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzNow(),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema="public",
    )

    return manager


# Raw DDL declared next to the tables (tenants/ddl.py), applied after the above.
RAW = ['CREATE OR REPLACE FUNCTION public.wisp_forbid_change() RETURNS trigger LANGUAGE plpgsql AS '
 "$$ BEGIN RAISE EXCEPTION 'rows of %.% are append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME USING "
 "ERRCODE = 'insufficient_privilege'; END $$",
 'CREATE OR REPLACE FUNCTION public.wisp_invoice_frozen() RETURNS trigger LANGUAGE plpgsql AS '
 "$$ BEGIN IF OLD.number IS NULL THEN RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END; "
 "END IF; IF TG_OP = 'DELETE' OR ROW(OLD.kind, OLD.subscriber_id, OLD.period_start, "
 'OLD.period_end, OLD.series, OLD.year, OLD.number, OLD.number_text, OLD.issue_date, '
 'OLD.due_date, OLD.currency, OLD.language, OLD.subtotal, OLD.tax_total, OLD.total, '
 'OLD.corrects_id, OLD.bill_to, OLD.created_at) IS DISTINCT FROM ROW(NEW.kind, '
 'NEW.subscriber_id, NEW.period_start, NEW.period_end, NEW.series, NEW.year, NEW.number, '
 'NEW.number_text, NEW.issue_date, NEW.due_date, NEW.currency, NEW.language, NEW.subtotal, '
 'NEW.tax_total, NEW.total, NEW.corrects_id, NEW.bill_to, NEW.created_at) OR (OLD.issuer_id IS '
 "NOT NULL AND NEW.issuer_id IS DISTINCT FROM OLD.issuer_id) THEN RAISE EXCEPTION 'issued "
 "document % of %.% cannot change; correct it with a credit note', OLD.number_text, "
 "TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END IF; RETURN NEW; "
 'END $$']
