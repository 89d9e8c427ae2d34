"""One Redis client per process and event loop. Every key we write carries the tenant id."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from app.core.config import get_settings

_clients: dict[int, aioredis.Redis] = {}


def get_redis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        url = get_settings().redis_url or "redis://127.0.0.1:6379/0"
        client = aioredis.Redis.from_url(url, decode_responses=True)
        _clients[id(loop)] = client
    return client


async def close_redis() -> None:
    loop = asyncio.get_running_loop()
    client = _clients.pop(id(loop), None)
    if client is not None:
        await client.aclose()


def key(tenant_id: object, *parts: object) -> str:
    return ":".join(["wisp", str(tenant_id), *(str(p) for p in parts)])
