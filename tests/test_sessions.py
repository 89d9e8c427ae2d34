"""Sessions: fixation, sign out everywhere, idle and absolute timeouts (time moved in Redis)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

from tests.conftest import PASSWORD, http, tenant_client
from tests.support.identity import audit_actions, tenant_of


def session_key(tenant: Any, cookie: str) -> str:
    from app.core.redis import key

    return key(tenant.id, "session", hashlib.sha256(cookie.encode()).hexdigest())


async def test_session_fixation_a_planted_id_is_not_the_one_after_sign_in(
    make_tenant: Any, app: Any
) -> None:
    tc = await make_tenant()
    planted = "attacker-chose-this-session-id"
    async with http(app, tc.host) as victim:
        victim.cookies.set("wisp_session", planted, domain=tc.host)
        await victim.get("/api/v1/auth/me")
        r = await victim.post(
            "/api/v1/auth/login",
            json={"email": tc.email, "password": PASSWORD},
            headers={"X-CSRFToken": victim.cookies.get("csrftoken") or ""},
        )
        assert r.status_code == 200
        issued = r.cookies.get("wisp_session")
        assert issued
        assert issued != planted
    async with http(app, tc.host) as attacker:
        r = await attacker.get("/api/v1/auth/me", headers={"Cookie": f"wisp_session={planted}"})
        assert r.status_code == 401
        r = await attacker.get("/api/v1/auth/me", headers={"Cookie": f"wisp_session={issued}"})
        assert r.status_code == 200


async def test_a_live_session_is_replaced_not_reused_at_sign_in(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    before = tc.client.cookies.get("wisp_session")
    r = await tc.post("/api/v1/auth/login", json={"email": tc.email, "password": PASSWORD})
    after = r.cookies.get("wisp_session")
    assert before
    assert after
    assert before != after


async def test_redis_holds_no_usable_cookie(make_tenant: Any) -> None:
    from app.core.redis import get_redis

    tc = await make_tenant()
    cookie = tc.client.cookies.get("wisp_session")
    assert cookie
    tenant = await tenant_of(tc)
    keys = [k async for k in get_redis().scan_iter(match=f"wisp:{tenant.id}:session:*")]
    assert keys == [session_key(tenant, cookie)]
    assert cookie not in str(await get_redis().get(keys[0]))


async def test_sign_out_everywhere(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant()
    phone = await tenant_client(app, tc.slug, tc.email)
    laptop = await tenant_client(app, tc.slug, tc.email)
    r = await phone.post("/api/v1/auth/logout-everywhere")
    assert r.status_code == 200
    assert r.json() == {"sessions_ended": 3}
    for client in (tc, phone, laptop):
        assert (await client.get("/api/v1/auth/me")).status_code == 401
    again = await tenant_client(app, tc.slug, tc.email)
    events = await audit_actions(again, action="auth.logout")
    assert [e["action"] for e in events] == ["auth.logout_everywhere"]
    for client in (phone, laptop, again):
        await client.client.aclose()


async def test_idle_timeout_slides_and_expires(make_tenant: Any) -> None:
    from app.core.redis import get_redis
    from app.identity.sessions import IDLE_TIMEOUT

    tc = await make_tenant()
    redis = get_redis()
    name = session_key(await tenant_of(tc), tc.client.cookies.get("wisp_session") or "")
    await redis.expire(name, 30)  # as if the user had been idle for almost 12 hours
    assert (await tc.get("/api/v1/auth/me")).status_code == 200
    assert await redis.ttl(name) > IDLE_TIMEOUT - 60  # any request restarts the idle clock
    await redis.pexpire(name, 1)
    await asyncio.sleep(0.05)
    assert (await tc.get("/api/v1/auth/me")).status_code == 401


async def test_absolute_timeout_ends_even_a_busy_session(make_tenant: Any) -> None:
    from app.core.redis import get_redis
    from app.identity.sessions import ABSOLUTE_TIMEOUT

    tc = await make_tenant()
    redis = get_redis()
    name = session_key(await tenant_of(tc), tc.client.cookies.get("wisp_session") or "")
    data = json.loads(await redis.get(name))
    data["created_at"] = time.time() - ABSOLUTE_TIMEOUT + 60
    await redis.set(name, json.dumps(data), keepttl=True)
    assert (await tc.get("/api/v1/auth/me")).status_code == 200  # a minute left
    data["created_at"] = time.time() - ABSOLUTE_TIMEOUT - 1
    await redis.set(name, json.dumps(data), keepttl=True)
    assert (await tc.get("/api/v1/auth/me")).status_code == 401
    assert await redis.exists(name) == 0
