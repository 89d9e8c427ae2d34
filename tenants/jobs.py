"""Tenant jobs: actors that run inside their tenant's scope, and periodic work.

`@tenant_actor()` declares a Dramatiq actor named `<domain>.<function>` whose message carries
the tenant id first; the wrapper looks the tenant up, opens its scope (one transaction,
`search_path` first) and its language, then calls the function with the scope. Work for after
the commit goes through `scope.after_commit`. Actors take ids, re-read their rows and must be
safe to run twice (delivery is at least once).

`@periodic(...)` on a tenant actor declares that the scheduler enqueues it for every active
tenant (or for the tenants a selector returns) once per period. The domain that owns the work
declares it; the scheduler only reads `PERIODIC`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import dramatiq

from app.core import jobs
from app.core.db import DB, open_pool
from app.core.i18n import use_language
from app.core.logs import tenant_var
from app.core.problems import is_value_error
from tenants.registry import all_tenants, tenant_by_id
from tenants.scope import Scope, tenant_scope

log = logging.getLogger(__name__)

TenantSelector = Callable[[], Awaitable[list[str]]]


async def active_tenants() -> list[str]:
    return [str(t.id) for t in await all_tenants() if t.is_active]


@dataclass(frozen=True)
class Periodic:
    name: str
    every: dt.timedelta
    actor_name: str
    tenants: TenantSelector = active_tenants

    async def enqueue(self) -> int:
        tenant_ids = await self.tenants()
        await jobs.enqueue_many(self.actor_name, [(t,) for t in tenant_ids])
        return len(tenant_ids)


PERIODIC: dict[str, Periodic] = {}
"""Every declared periodic job by name; filled as the domains' task modules are imported."""


def actor_name_of(fn: Callable[..., Any]) -> str:
    """`app.billing.tasks.email_invoice` → `billing.email_invoice`."""
    parts = fn.__module__.split(".")
    domain = parts[1] if parts[0] == "app" and len(parts) > 2 else parts[-2]
    return f"{domain}.{fn.__name__}"


class ValueRefused(Exception):
    """The database refused a value the job carries (too long, out of range, a NUL): running
    it again cannot help, so the message fails at once (to the dead-letter queue) instead of
    being retried."""


async def _ensure_pool() -> None:
    if DB.pool is None:
        await open_pool()


def tenant_actor(
    queue_name: str = "default", max_retries: int = 5, **options: Any
) -> Callable[[Callable[..., Awaitable[None]]], dramatiq.Actor[Any, Any]]:
    def decorate(fn: Callable[..., Awaitable[None]]) -> dramatiq.Actor[Any, Any]:
        name = actor_name_of(fn)
        if name in jobs.broker.actors:
            raise RuntimeError(f"two actors are named {name}")

        @functools.wraps(fn)
        async def run(tenant_id: str, *args: Any, **kwargs: Any) -> None:
            await _ensure_pool()
            tenant = await tenant_by_id(tenant_id)
            if tenant is None:
                log.warning(
                    "job for a tenant that no longer exists", extra={"tenant_id": tenant_id}
                )
                return
            token = tenant_var.set(tenant.slug)
            try:
                with use_language(tenant.language):
                    async with tenant_scope(tenant, propagate_after_commit=True) as scope:
                        await fn(scope, *args, **kwargs)
            except Exception as exc:
                if is_value_error(exc):
                    log.error("job refused by the database: %s", type(exc).__name__)
                    raise ValueRefused(type(exc).__name__) from exc
                raise
            finally:
                tenant_var.reset(token)

        actor: dramatiq.Actor[Any, Any] = dramatiq.actor(  # type: ignore[call-overload]
            run,
            actor_name=name,
            queue_name=queue_name,
            max_retries=max_retries,
            tenant_scoped=True,
            broker=jobs.broker,
            throws=(ValueRefused, *options.pop("throws", ())),
            **options,
        )
        return actor

    return decorate


def periodic(
    name: str, every: dt.timedelta, tenants: TenantSelector = active_tenants
) -> Callable[[dramatiq.Actor[Any, Any]], dramatiq.Actor[Any, Any]]:
    """Declare a tenant actor as periodic work (place it above `@tenant_actor`)."""

    def declare(actor: dramatiq.Actor[Any, Any]) -> dramatiq.Actor[Any, Any]:
        if name in PERIODIC:
            raise RuntimeError(f"two periodic jobs are named {name}")
        PERIODIC[name] = Periodic(name, every, actor.actor_name, tenants)
        return actor

    return declare


__all__ = ["PERIODIC", "Periodic", "Scope", "periodic", "tenant_actor"]
