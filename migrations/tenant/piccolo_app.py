"""The tenant track: applied to the template schema and to every tenant schema."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.core.discovery import tenant_ddl, tenant_tables

APP_CONFIG = AppConfig(
    app_name="tenant",
    migrations_folder_path=str(Path(__file__).parent),
    table_classes=tenant_tables(),
)
RAW_DDL = tenant_ddl()
