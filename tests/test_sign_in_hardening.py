"""Sign-in under pressure: concurrent sign-ins, lockout by strangers, weak passkeys, forged posts.

Regression tests for issue 12, defects 2, 10 and 11.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import PASSWORD, TenantClient
from tests.support.identity import anonymous, client_from, csrf_ready, tenant_of
from tests.support.soft_authenticator import SoftAuthenticator

WRONG = "definitely not the password"
LOGIN = "/api/v1/auth/login"


async def login_from(app: Any, tc: TenantClient, address: str, password: str) -> httpx.Response:
    """One sign-in of the tenant's owner from a client at `address`."""
    async with client_from(app, tc.host, address) as client:
        headers = await csrf_ready(client)
        response: httpx.Response = await client.post(
            LOGIN, json={"email": tc.email, "password": password}, headers=headers
        )
        return response


# Defect 2: concurrent sign-ins of one user deadlocked (row read FOR SHARE, then updated) -------


async def test_defect_2_concurrent_sign_ins_of_one_user_all_succeed(
    two_tenants: Any, app: Any
) -> None:
    a, b = two_tenants
    # Each sign-in from its own address, so the throttle (which counts attempts in flight)
    # lets all of them reach the password check at once.
    attempts = [
        login_from(app, tc, f"10.{n}.{i}.{i + 1}", PASSWORD)
        for n, tc in enumerate((a, b), start=2)
        for i in range(16)
    ]
    answers = await asyncio.gather(*attempts)
    statuses = [r.status_code for r in answers]
    assert statuses == [200] * 32, [r.text for r in answers if r.status_code != 200]
    for tc in (a, b):
        r = await tc.get("/api/v1/audit-log", params={"action": "auth.login", "limit": 200})
        assert r.status_code == 200
        # The fixture's own sign-in and the 16 concurrent ones, all recorded.
        assert len(r.json()["items"]) == 17


async def test_defect_2_concurrent_sign_ins_while_the_hash_is_upgraded_all_succeed(
    make_tenant: Any, app: Any
) -> None:
    """The first sign-in re-hashes a password stored with old parameters; the others, checked
    against the old hash at the same time, still get in (and the hash is upgraded once)."""
    from argon2 import PasswordHasher

    from app.identity.passwords import needs_rehash
    from app.identity.tables import StaffUser
    from tenants.scope import tenant_scope

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert needs_rehash(old)
    async with tenant_scope(tenant):
        await StaffUser.update({StaffUser.password_hash: old}).where(StaffUser.email == tc.email)
    answers = await asyncio.gather(
        *(login_from(app, tc, f"10.77.{i}.1", PASSWORD) for i in range(12))
    )
    assert [r.status_code for r in answers] == [200] * 12, [r.text for r in answers]
    async with tenant_scope(tenant):
        row = await StaffUser.select().where(StaffUser.email == tc.email).first()
    assert row is not None and row["password_hash"] != old
    assert not needs_rehash(row["password_hash"])


async def test_defect_2_concurrent_portal_sign_ins_of_one_subscriber_all_succeed(
    two_tenants: Any, app: Any
) -> None:
    from app.identity.passwords import hash_password_async
    from app.subscribers.tables import SubscriberAccount
    from tenants.scope import tenant_scope
    from tests.support.provisioning import make_plan, make_subscriber

    attempts = []
    for n, tc in enumerate(two_tenants, start=2):
        sub = await make_subscriber(tc, (await make_plan(tc))["id"])
        async with tenant_scope(await tenant_of(tc)):
            await SubscriberAccount.update(
                {SubscriberAccount.password_hash: await hash_password_async(PASSWORD)}
            ).where(SubscriberAccount.subscriber == sub["id"])
        for i in range(16):
            attempts.append(portal_login_from(app, tc, f"10.{n}.{i}.9", sub["email"]))
    answers = await asyncio.gather(*attempts)
    assert [r.status_code for r in answers] == [200] * 32, [r.text for r in answers]


async def portal_login_from(app: Any, tc: TenantClient, address: str, email: str) -> Any:
    async with client_from(app, tc.host, address) as client:
        headers = await csrf_ready(client)
        return await client.post(
            "/api/v1/portal/auth/login",
            json={"email": email, "password": PASSWORD},
            headers=headers,
        )


async def test_defect_2_concurrent_passkey_sign_ins_of_one_user_all_succeed(
    make_tenant: Any,
) -> None:
    from tests.test_passkeys import register, sign_in

    tc = await make_tenant()
    soft = SoftAuthenticator()
    for _ in range(8):
        assert (await register(tc, soft)).status_code == 201
    app = tc.client._transport.app  # type: ignore[attr-defined]
    visitors = [await anonymous(app, tc) for _ in range(8)]
    # Eight passkeys of one user, all used at once.
    attempts = [sign_in(v, soft, credential=soft.credentials[i]) for i, v in enumerate(visitors)]
    answers = await asyncio.gather(*attempts)
    assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
    for v in visitors:
        await v.client.aclose()


# Defect 10: strangers' failures locked the owner out (the account back-off ignored addresses) --


async def test_defect_10_failures_from_other_addresses_do_not_lock_the_owner_out(
    make_tenant: Any, app: Any
) -> None:
    tc = await make_tenant()
    for i in range(5):
        assert (await login_from(app, tc, f"198.51.100.{i + 1}", WRONG)).status_code == 401
    # The right password from a sixth address, one that never failed on this account.
    assert (await login_from(app, tc, "203.0.113.77", PASSWORD)).status_code == 200
    # Thirty more strangers later, the owner's own address still gets in...
    for i in range(30):
        r = await login_from(app, tc, f"198.51.101.{i + 1}", WRONG)
        assert r.status_code == 401, r.text
    assert (await login_from(app, tc, "203.0.113.78", PASSWORD)).status_code == 200
    # ...while an address that kept guessing is held back (its own five, then the account's).
    for _ in range(5):
        assert (await login_from(app, tc, "198.51.102.9", WRONG)).status_code == 401
    r = await login_from(app, tc, "198.51.102.9", PASSWORD)
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) >= 1


async def test_defect_10_past_the_ceiling_a_clean_address_waits_a_minute_at_most(
    make_tenant: Any, app: Any
) -> None:
    from app.core.redis import get_redis
    from app.identity import throttle

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    redis = get_redis()
    seconds, micros = await redis.time()
    # A large distributed attack: far past the ceiling, the latest failure just now.
    failures = throttle.ACCOUNT_CEILING + 30
    await redis.hset(
        throttle.account_key(tenant, tc.email),
        mapping={"n": failures, "last": f"{seconds}.{micros:06d}"},
    )
    r = await login_from(app, tc, "203.0.113.90", PASSWORD)
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= throttle.FRESH_MAX_DELAY
    # An address that failed on the account waits the full back-off.
    await redis.hset(throttle.account_address_key(tenant, tc.email, "203.0.113.91"), "n", 1)
    r = await login_from(app, tc, "203.0.113.91", PASSWORD)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > throttle.FRESH_MAX_DELAY
    # Once the minute is over, the clean address signs in, and that clears the account.
    last = float(await redis.hget(throttle.account_key(tenant, tc.email), "last") or 0)
    await redis.hset(throttle.account_key(tenant, tc.email), "last", str(last - 61))
    assert (await login_from(app, tc, "203.0.113.90", PASSWORD)).status_code == 200
    assert not await redis.exists(throttle.account_key(tenant, tc.email))


def test_defect_10_ipv6_addresses_count_per_64() -> None:
    from app.identity.throttle import address_bucket

    assert address_bucket("2001:db8:1:2::1") == address_bucket("2001:db8:1:2:ffff::9")
    assert address_bucket("2001:db8:1:2::1") != address_bucket("2001:db8:1:3::1")
    assert address_bucket("::ffff:192.0.2.7") == address_bucket("192.0.2.7") == "192.0.2.7"
    assert address_bucket("") == "unknown"


# Defect 11: passkey-only accounts took a touch without user verification; forged posts ---------


async def test_defect_11_passkey_only_accounts_require_user_verification(
    make_tenant: Any, app: Any
) -> None:
    from tests.test_passkeys import PASSKEY_ONLY, register, sign_in

    tc = await make_tenant()
    soft = SoftAuthenticator()
    assert (await register(tc, soft)).status_code == 201
    visitor = await anonymous(app, tc)
    # With password sign-in still on, a touch alone is accepted (user verification preferred).
    assert (await sign_in(visitor, soft, user_verified=False)).status_code == 200
    assert (await tc.patch(PASSKEY_ONLY, json={"enabled": True})).status_code == 200
    other = await anonymous(app, tc)
    r = await sign_in(other, soft, user_verified=False)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "passkeys only" in r.json()["detail"]
    assert (await other.get("/api/v1/auth/me")).status_code == 401
    assert (await sign_in(other, soft)).status_code == 200  # verified: in
    for client in (visitor, other):
        await client.client.aclose()


async def test_defect_11_user_verification_message_is_translated(make_tenant: Any) -> None:
    from tests.test_passkeys import PASSKEY_ONLY, register, sign_in

    tc = await make_tenant(language="es")
    soft = SoftAuthenticator()
    assert (await register(tc, soft)).status_code == 201
    assert (await tc.patch(PASSKEY_ONLY, json={"enabled": True})).status_code == 200
    visitor = await anonymous(tc.client._transport.app, tc)  # type: ignore[attr-defined]
    r = await sign_in(visitor, soft, user_verified=False)
    assert r.status_code == 401
    assert "solo con llaves" in r.json()["detail"]
    await visitor.client.aclose()


def _forged(tc: TenantClient, **headers: str) -> dict[str, str]:
    return {**tc.csrf(), **headers}


async def test_defect_11_cross_site_unsafe_requests_are_refused(two_tenants: Any) -> None:
    a, b = two_tenants
    body = {
        "name": "Forged plan",
        "download_kbps": 1000,
        "upload_kbps": 100,
        "monthly_price": "1.00",
    }
    sibling = f"http://{b.host}"  # another tenant: same site, different origin
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": sibling},
        {"Origin": sibling},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://{a.host}:8443"},
    ):
        r = await a.client.post("/api/v1/rate-plans", json=body, headers=_forged(a, **headers))
        assert r.status_code == 403, (headers, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "/problems/cross-site-request"
        r = await a.client.delete("/api/v1/auth/passkeys/x", headers=_forged(a, **headers))
        assert r.status_code == 403
    plans = (await a.get("/api/v1/rate-plans")).json()["items"]
    assert plans == []  # nothing was created
    # Sign-in (and signing someone in to the attacker's account) is guarded too.
    r = await a.client.post(
        LOGIN,
        json={"email": a.email, "password": PASSWORD},
        headers=_forged(a, **{"Sec-Fetch-Site": "cross-site"}),
    )
    assert r.status_code == 403
    # The portal's own pages: same origin, and safe methods from anywhere.
    same = {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{a.host}"}
    r = await a.client.post("/api/v1/rate-plans", json=body, headers=_forged(a, **same))
    assert r.status_code == 201, r.text
    r = await a.client.get("/api/v1/rate-plans", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200


async def test_defect_11_cross_site_refusal_is_translated_and_spares_other_clients(
    make_tenant: Any, app: Any
) -> None:
    tc = await make_tenant(language="es")
    r = await tc.client.post(
        "/api/v1/auth/logout", headers=_forged(tc, **{"Sec-Fetch-Site": "cross-site"})
    )
    assert r.status_code == 403
    assert r.json()["title"] == "No permitido"
    assert (await tc.get("/api/v1/auth/me")).status_code == 200  # still signed in
    # Gateways hold no ambient credential a page could abuse: their protocol is not checked.
    r = await tc.client.post(
        "/gateway/v1/enroll", json={"token": "x" * 20}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code in {401, 422}, r.text
