"""The scheduler: one loop that enqueues periodic work, and only enqueues it.

Each periodic job has a period; every slot of that period is claimed in Redis with SET NX, so
running two schedulers (a rolling deploy, a mistake) still enqueues each slot once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from app.core.discovery import load_tasks
from app.core.redis import get_redis
from tenants.jobs import PERIODIC, Periodic

log = logging.getLogger(__name__)


def slot_of(job: Periodic, now: dt.datetime) -> int:
    return int(now.timestamp() // job.every.total_seconds())


async def tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue every job whose current slot nobody has claimed yet; returns their names."""
    load_tasks()  # each domain declares its actors and periodic jobs as it is imported
    now = now or dt.datetime.now(dt.UTC)
    redis = get_redis()
    ran = []
    for job in PERIODIC.values():
        slot = slot_of(job, now)
        claim = f"wisp:scheduler:{job.name}:{slot}"
        if await redis.set(claim, "1", nx=True, ex=int(job.every.total_seconds()) * 2):
            count = await job.enqueue()
            log.info("enqueued periodic job", extra={"job": job.name, "messages": count})
            ran.append(job.name)
    return ran


async def run_forever(stop: asyncio.Event, interval: float = 30.0) -> None:
    log.info("scheduler started")
    while not stop.is_set():
        try:
            await tick()
        except Exception:
            log.exception("scheduler tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    log.info("scheduler stopped")
