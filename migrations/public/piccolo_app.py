"""The `public` track: the tenant registry and platform-wide objects."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.core.discovery import public_ddl, public_tables
from tenants.registry import DDL, PUBLIC_TABLES

APP_CONFIG = AppConfig(
    app_name="public",
    migrations_folder_path=str(Path(__file__).parent),
    table_classes=[*PUBLIC_TABLES, *public_tables()],
)
RAW_DDL = [*DDL, *public_ddl()]
