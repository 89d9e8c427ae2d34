"""Liveness and readiness, answered on any host (load balancers probe by address)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get

from app.core.db import DB
from app.core.i18n import _
from app.core.problems import problem
from app.core.redis import get_redis
from app.core.roles import ANYONE, allow


@get("/health", summary="Liveness", tags=["platform"], roles=allow(ANYONE))
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    summary="Readiness: database and Redis reachable",
    tags=["platform"],
    roles=allow(ANYONE),
)
async def ready() -> Response[dict[str, Any]]:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            if DB.pool is not None:
                async with DB.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            else:
                conn = await DB.get_new_connection()
                try:
                    await conn.fetchval("SELECT 1")
                finally:
                    await conn.close()
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    try:
        async with asyncio.timeout(2):
            await get_redis().ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "unreachable"
    if all(v == "ok" for v in checks.values()):
        return Response({"status": "ok", "checks": checks})
    return problem(
        503,
        "not-ready",
        _("Not ready"),
        _("A service this app needs is unreachable."),
        checks=checks,
    )


HANDLERS = [health, ready]
