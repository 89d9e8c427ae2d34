"""Helpers for the input-policy tests (no tests here): what changed, what was queued."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import TenantClient

PROBLEM = "application/problem+json"
NUL = "a\u0000b"


def problem_fields(response: Any) -> set[str]:
    """The fields a 4xx problem+json answer names (asserting it is one)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == response.status_code and body["title"]
    return {e["field"] for e in body.get("errors", [])}


async def audit_count(tc: TenantClient) -> int:
    """How many audit records the tenant has (every write records one)."""
    r = await tc.get("/api/v1/audit-log", params={"limit": 200})
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


async def queued_ids() -> set[str]:
    """Ids of every message waiting in this test process's queues (Dramatiq keeps each one in
    `{namespace}:{queue}.msgs` until it is acknowledged)."""
    from app.config import get_settings
    from app.redis import get_redis

    redis = get_redis()
    namespace = get_settings().queue_namespace
    ids: set[str] = set()
    async for key in redis.scan_iter(match=f"{namespace}:*.msgs"):
        for message_id in await redis.hkeys(key):
            ids.add(message_id.decode() if isinstance(message_id, bytes) else str(message_id))
    return ids


async def queued_for(tenant_id: str, actor: str = "") -> list[dict[str, Any]]:
    """The waiting messages whose first argument is this tenant (of actors named `actor`)."""
    from app.config import get_settings
    from app.redis import get_redis

    redis = get_redis()
    namespace = get_settings().queue_namespace
    found = []
    async for key in redis.scan_iter(match=f"{namespace}:*.msgs"):
        for raw in await redis.hvals(key):
            message = json.loads(raw)
            if (
                message.get("args")
                and message["args"][0] == tenant_id
                and message.get("actor_name", "").endswith(actor)
            ):
                found.append(message)
    return found
