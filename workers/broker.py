"""The Dramatiq broker on Redis, set up once per process before any actor is declared."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Retries

from app.config import get_settings
from workers.middleware import TenantMiddleware


def _broker() -> RedisBroker:
    settings = get_settings()
    # Jobs are acknowledged when they finish; a killed worker's jobs go back to the queue once
    # its heartbeat (sent with every queue command, at least each second) is older than the
    # timeout, at the next maintenance a live worker runs. Both are settings, so a test can
    # bring a killed worker's jobs back within seconds.
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url or "redis://127.0.0.1:6379/0",
        namespace=settings.queue_namespace,
        heartbeat_timeout=settings.queue_heartbeat_timeout_ms,
        maintenance_chance=settings.queue_maintenance_chance,
    )
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.min_backoff = settings.queue_min_backoff_ms
    broker.add_middleware(AsyncIO())
    broker.add_middleware(TenantMiddleware())
    return broker


broker = _broker()
dramatiq.set_broker(broker)
