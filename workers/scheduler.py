"""The scheduler: one loop that enqueues periodic work, and only enqueues it.

Each periodic job has a period; every slot of that period is claimed in Redis with SET NX, so
running two schedulers (a rolling deploy, a mistake) still enqueues each slot once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.core.redis import get_redis
from tenants.registry import all_tenants

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    every: dt.timedelta
    enqueue: Callable[[], Awaitable[int]]


async def _prune_sessions() -> int:
    from app.identity.tasks import prune_sessions

    tenants = [t for t in await all_tenants() if t.is_active]
    for tenant in tenants:
        prune_sessions.send(str(tenant.id))
    return len(tenants)


async def _daily_billing() -> int:
    from app.billing.jobs import daily_billing

    tenants = [t for t in await all_tenants() if t.is_active]
    for tenant in tenants:
        daily_billing.send(str(tenant.id))
    return len(tenants)


async def _plan_changes() -> int:
    # Hourly, not daily: each tenant's day starts at its own midnight; the job applies what is
    # due on the tenant's local date and is a no-op when nothing is.
    from app.subscribers.tasks import apply_due_plan_changes

    tenants = [t for t in await all_tenants() if t.is_active]
    for tenant in tenants:
        apply_due_plan_changes.send(str(tenant.id))
    return len(tenants)


async def _check_gateways() -> int:
    # Only tenants with an enrolled gateway: most tenants have nothing to check each minute.
    from app.gateways.tasks import check_gateways, tenants_with_gateways

    tenant_ids = await tenants_with_gateways()
    for tenant_id in tenant_ids:
        check_gateways.send(tenant_id)
    return len(tenant_ids)


async def _sweep_invoices() -> int:
    from app.billing.jobs import sweep_unsent_invoices

    tenants = [t for t in await all_tenants() if t.is_active]
    for tenant in tenants:
        sweep_unsent_invoices.send(str(tenant.id))
    return len(tenants)


PERIODIC: list[Periodic] = [
    Periodic("daily-billing-check", dt.timedelta(hours=1), _daily_billing),
    Periodic("prune-sessions", dt.timedelta(hours=1), _prune_sessions),
    Periodic("apply-plan-changes", dt.timedelta(hours=1), _plan_changes),
    Periodic("check-gateways", dt.timedelta(minutes=1), _check_gateways),
    Periodic("sweep-unsent-invoices", dt.timedelta(hours=1), _sweep_invoices),
]


def slot_of(job: Periodic, now: dt.datetime) -> int:
    return int(now.timestamp() // job.every.total_seconds())


async def tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue every job whose current slot nobody has claimed yet; returns their names."""
    now = now or dt.datetime.now(dt.UTC)
    redis = get_redis()
    ran = []
    for job in PERIODIC:
        slot = slot_of(job, now)
        claim = f"wisp:scheduler:{job.name}:{slot}"
        if await redis.set(claim, "1", nx=True, ex=int(job.every.total_seconds()) * 2):
            count = await job.enqueue()
            log.info("enqueued periodic job", extra={"job": job.name, "messages": count})
            ran.append(job.name)
    return ran


async def run_forever(stop: asyncio.Event, interval: float = 30.0) -> None:
    import workers.tasks  # noqa: F401  (declares the actors on the broker)

    log.info("scheduler started")
    while not stop.is_set():
        try:
            await tick()
        except Exception:
            log.exception("scheduler tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    log.info("scheduler stopped")
