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


REFUSED = "refused-"
"""The prefix of the request ids a test gives the requests it expects to be refused."""


def refused_id() -> dict[str, str]:
    """Headers giving a request an id of its own, to find what it wrote (nothing, we hope)."""
    import secrets

    return {"X-Request-ID": REFUSED + secrets.token_hex(8)}


async def audit_of_refused(tc: TenantClient) -> list[dict[str, Any]]:
    """The tenant's audit records written by a request a test expected to be refused (every
    write records one, with the request's id; jobs the tenant runs meanwhile do not count)."""
    r = await tc.get("/api/v1/audit-log", params={"limit": 200})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["request_id"].startswith(REFUSED)]


async def queued_ids() -> set[str]:
    """Ids of every message waiting in this test process's queues (Dramatiq keeps each one in
    `{namespace}:{queue}.msgs` until it is acknowledged)."""
    from app.core.config import get_settings
    from app.core.redis import get_redis

    redis = get_redis()
    namespace = get_settings().queue_namespace
    ids: set[str] = set()
    async for key in redis.scan_iter(match=f"{namespace}:*.msgs"):
        for message_id in await redis.hkeys(key):
            ids.add(message_id.decode() if isinstance(message_id, bytes) else str(message_id))
    return ids


async def queued_for(tenant_id: str, actor: str = "") -> list[dict[str, Any]]:
    """The waiting messages whose first argument is this tenant (of actors named `actor`)."""
    from app.core.config import get_settings
    from app.core.redis import get_redis

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
