"""`tenant_actor`: a Dramatiq actor that runs inside its tenant's scope.

The message carries the tenant id as the first argument; the wrapper looks the tenant up,
opens the tenant scope (one transaction, `search_path` set first) and the tenant's language,
then calls the function with the scope. Work to do only once the data is committed goes through
`scope.after_commit`. Actors take ids, re-read their rows and must be safe to run twice.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import dramatiq

import workers.broker  # noqa: F401  (the broker must exist before any actor is declared)
from app.db import DB, open_pool
from app.i18n import use_language
from app.logs import tenant_var
from app.problems import is_value_error
from tenants.registry import tenant_by_id
from tenants.scope import Scope, tenant_scope

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


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
            actor_name=f"{fn.__module__}.{fn.__name__}",
            queue_name=queue_name,
            max_retries=max_retries,
            tenant_scoped=True,
            throws=(ValueRefused, *options.pop("throws", ())),
            **options,
        )
        return actor

    return decorate


__all__ = ["Scope", "tenant_actor"]
