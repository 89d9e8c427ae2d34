"""The tenant track: applied to the template schema and to every tenant schema."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.tables import TENANT_TABLES

APP_CONFIG = AppConfig(
    app_name="tenant",
    migrations_folder_path=str(Path(__file__).parent),
    table_classes=TENANT_TABLES,
)
