"""The Dramatiq broker on Redis, set up once per process before any actor is declared."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO

from app.core.config import get_settings
from workers.middleware import TenantMiddleware


def _broker() -> RedisBroker:
    settings = get_settings()
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url or "redis://127.0.0.1:6379/0",
        namespace=settings.queue_namespace,
    )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(TenantMiddleware())
    return broker


broker = _broker()
dramatiq.set_broker(broker)
