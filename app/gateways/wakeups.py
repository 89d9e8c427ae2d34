"""Waking long-polling gateways when their tenant's desired state or commands change.

One Redis pattern subscription per process (and event loop) listens to every tenant's
`wisp:{tenant}:netstate` (published by app.netstate after each commit) and
`wisp:{tenant}:gateway-commands` (published here), and wakes the requests of that tenant
waiting in this process. No database connection is held while a request waits.

A waiter registers before it reads the state, so a change committed between its read and its
wait still wakes it. While the subscription is down (Redis restarting) waiters fall back to
polling every `FALLBACK_POLL` seconds, and everyone is woken when it comes back, so a lost
message only ever delays a gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from app.core.redis import get_redis, key

log = logging.getLogger(__name__)

PATTERNS = ("wisp:*:netstate", "wisp:*:gateway-commands")
FALLBACK_POLL = 1.0
READY_TIMEOUT = 2.0


def commands_channel(tenant_id: object) -> str:
    return key(tenant_id, "gateway-commands")


async def poke(tenant_id: object) -> None:
    """Wake this tenant's waiting gateways (after a commit that gives them something new)."""
    try:
        await get_redis().publish(commands_channel(tenant_id), "1")
    except Exception:
        log.warning("gateway wake-up failed", exc_info=True)


class Hub:
    def __init__(self) -> None:
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="gateway-hub")

    def _wake(self, tenant_id: str | None = None) -> None:
        groups = self.waiters.values() if tenant_id is None else [self.waiters.get(tenant_id, ())]
        for group in groups:
            for event in group:
                event.set()

    async def _run(self) -> None:
        while True:
            pubsub: Any = None
            try:
                pubsub = get_redis().pubsub()
                await pubsub.psubscribe(*PATTERNS)
                confirmed = 0
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "psubscribe":
                        confirmed += 1
                        if confirmed == len(PATTERNS):
                            self.ready.set()
                            self._wake()  # anything missed while down is re-read now
                    elif kind == "pmessage":
                        parts = str(message.get("channel", "")).split(":")
                        if len(parts) >= 3:
                            self._wake(parts[1])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("gateway wake-up subscription lost; retrying", exc_info=True)
            finally:
                self.ready.clear()
                self._wake()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            await asyncio.sleep(1.0)

    @contextlib.asynccontextmanager
    async def listening(self, tenant_id: object) -> AsyncIterator[Waiter]:
        self.start()
        if not self.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT)
        event = asyncio.Event()
        group = self.waiters.setdefault(str(tenant_id), set())
        group.add(event)
        try:
            yield Waiter(self, event)
        finally:
            group.discard(event)
            if not group:
                self.waiters.pop(str(tenant_id), None)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None


class Waiter:
    def __init__(self, hub: Hub, event: asyncio.Event) -> None:
        self.hub = hub
        self.event = event

    def arm(self) -> None:
        """Forget earlier wake-ups: call right before re-reading the state."""
        self.event.clear()

    async def wait(self, seconds: float, gone: asyncio.Future[Any] | None = None) -> None:
        """Until woken, `gone` is done (the client left), or `seconds` pass (sooner while the
        subscription is down)."""
        if seconds <= 0:
            return
        if not self.hub.ready.is_set():
            seconds = min(seconds, FALLBACK_POLL)
        woken = asyncio.ensure_future(self.event.wait())
        waiting: set[asyncio.Future[Any]] = {woken} | ({gone} if gone is not None else set())
        try:
            await asyncio.wait(waiting, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()


async def until_disconnect(receive: Any) -> None:
    """Returns when the HTTP client goes away (for a long poll nobody waits for any more)."""
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    found = _hubs.get(id(loop))
    if found is None:
        found = _hubs[id(loop)] = Hub()
    return found


async def close_hub() -> None:
    loop = asyncio.get_running_loop()
    found = _hubs.pop(id(loop), None)
    if found is not None:
        await found.close()
