"""Piccolo's entry point: the engine and the two migration tracks (public, tenant)."""

from piccolo.conf.apps import AppRegistry

from app.core.db import DB

__all__ = ["APP_REGISTRY", "DB"]

APP_REGISTRY = AppRegistry(apps=["migrations.public.piccolo_app", "migrations.tenant.piccolo_app"])
