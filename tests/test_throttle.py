"""Sign-in throttling in Redis: per account and per address, shared by every app instance."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import PASSWORD, tenant_client
from tests.support.identity import (
    anonymous,
    audit_actions,
    client_from,
    csrf_ready,
    tenant_of,
)

WRONG = "definitely not the password"


async def login(tc: Any, email: str, password: str) -> httpx.Response:
    response: httpx.Response = await tc.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    )
    return response


async def rewind(tc: Any, email: str | None = None, seconds: float = 10_000) -> None:
    """Move the last failure into the past, as if the back-off had been waited out."""
    from app.core.redis import get_redis
    from app.identity import throttle

    tenant = await tenant_of(tc)
    redis = get_redis()
    names = [throttle.address_key(tenant, "127.0.0.1")]
    if email:
        names.append(throttle.account_key(tenant, email))
    for name in names:
        last = await redis.hget(name, "last")
        if last is not None:
            await redis.hset(name, "last", str(float(last) - seconds))


async def test_account_backs_off_before_the_password_is_checked(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    visitor = await anonymous(app, tc)
    for _ in range(5):
        assert (await login(visitor, tc.email, WRONG)).status_code == 401
    r = await login(visitor, tc.email, PASSWORD)  # the right password, but too early
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(r.headers["retry-after"]) <= 2
    assert r.json()["status"] == 429
    failures = await audit_actions(tc, action="auth.login_failed")
    assert len(failures) == 5  # the refused attempt never reached the password check
    await rewind(tc, tc.email)
    assert (await login(visitor, tc.email, WRONG)).status_code == 401
    r = await login(visitor, tc.email, PASSWORD)
    assert r.status_code == 429
    assert 3 <= int(r.headers["retry-after"]) <= 4  # it grows: 2, 4, 8 … seconds
    await rewind(tc, tc.email)
    assert (await login(visitor, tc.email, PASSWORD)).status_code == 200
    # Success cleared the account: five free failures again.
    for _ in range(5):
        assert (await login(visitor, tc.email, WRONG)).status_code == 401
    assert (await login(visitor, tc.email, WRONG)).status_code == 429
    await visitor.client.aclose()


async def test_back_off_is_capped_at_fifteen_minutes(make_tenant: Any) -> None:
    from app.core.redis import get_redis
    from app.identity import throttle

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    redis = get_redis()
    seconds, micros = await redis.time()
    await redis.hset(
        throttle.account_key(tenant, tc.email), mapping={"n": 40, "last": f"{seconds}.{micros:06d}"}
    )
    # This address failed on the account too (one that never did is held back far less).
    await redis.hset(throttle.account_address_key(tenant, tc.email, "127.0.0.1"), "n", 1)
    r = await login(tc, tc.email, PASSWORD)
    assert r.status_code == 429
    assert 890 <= int(r.headers["retry-after"]) <= 900


async def test_a_burst_of_parallel_guesses_gets_only_the_free_ones(
    make_tenant: Any, app: Any
) -> None:
    tc = await make_tenant()
    visitor = await anonymous(app, tc)
    answers = await asyncio.gather(*(login(visitor, tc.email, WRONG) for _ in range(15)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [401] * 5 + [429] * 10
    await visitor.client.aclose()


async def test_address_is_throttled_across_accounts(make_tenant: Any, app: Any) -> None:
    from app.identity.throttle import ADDRESS_FREE

    tc = await make_tenant()
    visitor = await anonymous(app, tc)
    for i in range(ADDRESS_FREE):
        r = await login(visitor, f"guess{i}@{tc.slug}.example.com", WRONG)
        assert r.status_code == 401
    assert (await login(visitor, tc.email, PASSWORD)).status_code == 429
    # Another address is not held back by this one's failures.
    async with client_from(app, tc.host, "10.9.8.7") as elsewhere:
        headers = await csrf_ready(elsewhere)
        r = await elsewhere.post(
            "/api/v1/auth/login", json={"email": tc.email, "password": PASSWORD}, headers=headers
        )
        assert r.status_code == 200
    await visitor.client.aclose()


async def test_throttling_is_shared_between_two_app_instances(make_tenant: Any, app: Any) -> None:
    from app.web.app import create_app

    tc = await make_tenant()
    other_app = create_app()  # a second web process, as far as the throttle can tell
    assert other_app is not app
    first = await anonymous(app, tc)
    second = await tenant_client(other_app, tc.slug, tc.email, login=False)
    for client in (first, second, first, second, first):
        assert (await login(client, tc.email, WRONG)).status_code == 401
    r = await login(second, tc.email, PASSWORD)
    assert r.status_code == 429
    assert "retry-after" in r.headers
    await first.client.aclose()
    await second.client.aclose()


async def test_other_tenants_are_not_affected(two_tenants: Any, app: Any) -> None:
    a, b = two_tenants
    visitor = await anonymous(app, a)
    for _ in range(6):
        await login(visitor, a.email, WRONG)
    assert (await login(visitor, a.email, PASSWORD)).status_code == 429
    other = await anonymous(app, b)
    assert (await login(other, b.email, PASSWORD)).status_code == 200
    for client in (visitor, other):
        await client.client.aclose()


async def test_invitation_and_reset_tokens_are_throttled_per_address(
    make_tenant: Any, app: Any
) -> None:
    from app.identity.throttle import ADDRESS_FREE

    tc = await make_tenant()
    visitor = await anonymous(app, tc)
    for i in range(ADDRESS_FREE):
        path = "/api/v1/auth/invitations/accept" if i % 2 else "/api/v1/auth/password-reset/confirm"
        body: dict[str, str] = {"token": f"guess-{i}", "password": "a long enough passphrase"}
        if i % 2:
            body["name"] = "Guess"
        assert (await visitor.post(path, json=body)).status_code == 422
    r = await visitor.post(
        "/api/v1/auth/invitations/accept",
        json={"token": "guess-x", "name": "Guess", "password": "a long enough passphrase"},
    )
    assert r.status_code == 429
    r = await visitor.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": "guess-y", "password": "a long enough passphrase"},
    )
    assert r.status_code == 429
    await visitor.client.aclose()


async def test_password_change_is_throttled(make_tenant: Any) -> None:
    tc = await make_tenant()
    for _ in range(5):
        r = await tc.post(
            "/api/v1/auth/password",
            json={"current_password": WRONG, "new_password": "a long enough passphrase"},
        )
        assert r.status_code == 422
    r = await tc.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a long enough passphrase"},
    )
    assert r.status_code == 429
