"""Jobs: the Dramatiq broker, and the one way to enqueue work.

Code never imports an actor object to send it: it names the actor (`"billing.email_invoice"`)
and calls `enqueue` or `enqueue_after_commit`. That keeps the layers pointing down (a domain's
actions need not import its own `tasks`, nor anything in `workers/`) and keeps the event loop
free: Dramatiq's Redis client blocks, so every send runs in a thread.

Every tenant job carries the tenant id as its first argument; `TenantMiddleware` refuses to
enqueue or process a tenant actor's message without one, raising a `MiddlewareError` (which
Dramatiq does not swallow, unlike other middleware exceptions).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, MiddlewareError, Retries

from app.core.config import get_settings
from app.core.discovery import load_tasks


class TenantMissing(MiddlewareError):
    """A tenant actor's message that names no tenant."""


def _tenant_arg(message: dramatiq.Message[Any]) -> str | None:
    if not message.args:
        return None
    candidate = message.args[0]
    try:
        uuid.UUID(str(candidate))
    except ValueError:
        return None
    return str(candidate)


class TenantMiddleware(dramatiq.Middleware):
    @property
    def actor_options(self) -> set[str]:
        return {"tenant_scoped"}

    def _check(self, broker: dramatiq.Broker, message: dramatiq.Message[Any]) -> None:
        actor = broker.get_actor(message.actor_name)
        if not actor.options.get("tenant_scoped"):
            return
        tenant_id = _tenant_arg(message)
        if tenant_id is None:
            raise TenantMissing(f"{message.actor_name} needs a tenant id as its first argument")
        message.options["tenant_id"] = tenant_id

    def before_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int
    ) -> None:
        self._check(broker, message)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._check(broker, message)


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


class UnknownJob(LookupError):
    """An actor name that no loaded module declared (a typo, or its module was not loaded)."""


def _actor(name: str) -> dramatiq.Actor[Any, Any]:
    if name not in broker.actors:
        # Actors are declared as their domains' task modules load; any process may send work
        # (web, worker, CLI), so the first send loads them all.
        load_tasks()
    try:
        return broker.get_actor(name)
    except dramatiq.errors.ActorNotFound:
        raise UnknownJob(name) from None


def _plain(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Ids travel as strings: messages are JSON."""
    return tuple(str(a) if isinstance(a, uuid.UUID) else a for a in args)


async def enqueue(actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    """Queue one message, from a thread (the Redis client blocks)."""
    actor = _actor(actor_name)
    await asyncio.to_thread(actor.send_with_options, args=_plain(args), delay=delay_ms)


async def enqueue_many(actor_name: str, arg_lists: list[tuple[Any, ...]]) -> None:
    """Queue many messages of one actor, from one thread."""
    actor = _actor(actor_name)

    def send_all() -> None:
        for args in arg_lists:
            actor.send_with_options(args=_plain(args))

    if arg_lists:
        await asyncio.to_thread(send_all)


class CommitHooks(Protocol):
    """What a tenant scope offers: callbacks that run once its transaction has committed."""

    def after_commit(self, callback: Callable[[], Awaitable[None] | None]) -> None: ...


def enqueue_after_commit(scope: CommitHooks, actor_name: str, *args: Any) -> None:
    """Queue a message once the scope's transaction commits (never on rollback). The actor's
    name is checked now, so a typo fails inside the transaction instead of after it."""
    _actor(actor_name)
    scope.after_commit(lambda: enqueue(actor_name, *args))
