"""The `public` track: the tenant registry and platform-wide objects."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from app.gateways.registry import GATEWAY_PUBLIC_TABLES
from app.signup.registry import SIGNUP_PUBLIC_TABLES
from tenants.registry import PUBLIC_TABLES

APP_CONFIG = AppConfig(
    app_name="public",
    migrations_folder_path=str(Path(__file__).parent),
    table_classes=[*PUBLIC_TABLES, *GATEWAY_PUBLIC_TABLES, *SIGNUP_PUBLIC_TABLES],
)
