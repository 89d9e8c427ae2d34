from __future__ import annotations

from typing import Any

from tests.conftest import http


async def test_health_and_ready_on_any_host(app: Any) -> None:
    for host in ("localhost", "10.0.0.5", "unknown.localhost"):
        async with http(app, f"{host}") as c:
            assert (await c.get("/health")).json() == {"status": "ok"}
            r = await c.get("/ready")
            assert r.status_code == 200
            assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_openapi_is_served(app: Any) -> None:
    async with http(app, "localhost") as c:
        r = await c.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/signup" in paths
    assert "/api/v1/auth/login" in paths


async def test_responses_carry_a_request_id(app: Any) -> None:
    async with http(app, "localhost") as c:
        r = await c.get("/health", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
