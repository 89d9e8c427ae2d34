"""The input policy (app/core/inputs.py): no control character, oversized number or runaway JSON
reaches the database or a job; each is a translated 4xx naming the field, and changes nothing.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD, TenantClient, http, unique_slug
from tests.inputs_support import (
    NUL,
    audit_of_refused,
    problem_fields,
    queued_for,
    queued_ids,
    refused_id,
)
from tests.support.identity import anonymous, tenant_of
from tests.support.provisioning import make_plan, make_subscriber, ok
from tests.test_gateways_support import enrolled, gateway_client

NUL_EMAIL = "a\u0000@b.c"

# Defect 3 -------------------------------------------------------------------------------------

# (name, who may call it, method, path, body, query, the field that must be named, what to
# read before and after to see that nothing changed)
CASES: list[tuple[str, str, str, str, Any, Any, str, str | None]] = [
    ("login email", "anyone", "POST", "/api/v1/auth/login",
     {"email": NUL_EMAIL, "password": "x"}, None, "email", None),
    ("login password", "anyone", "POST", "/api/v1/auth/login",
     {"email": "{email}", "password": "pass\u0000word"}, None, "password", None),
    ("portal login", "anyone", "POST", "/api/v1/portal/auth/login",
     {"email": NUL_EMAIL, "password": "x"}, None, "email", None),
    ("password reset", "anyone", "POST", "/api/v1/auth/password-reset",
     {"email": NUL_EMAIL}, None, "email", None),
    ("signup company", "base", "POST", "/api/v1/signup",
     {"company_name": NUL, "slug": "{slug}", "email": "o@{slug}.example.com",
      "password": PASSWORD}, None, "company_name", None),
    ("signup email", "base", "POST", "/api/v1/signup",
     {"company_name": "WISP", "slug": "{slug}", "email": NUL_EMAIL, "password": PASSWORD},
     None, "email", None),
    ("subscriber search", "staff", "GET", "/api/v1/subscribers",
     None, {"q": "\u0000"}, "q", None),
    ("subscriber name", "staff", "POST", "/api/v1/subscribers",
     {"name": NUL, "email": "s@example.com", "plan_id": "{plan_id}"}, None, "name",
     "/api/v1/subscribers"),
    ("site name", "staff", "POST", "/api/v1/sites", {"name": NUL}, None, "name",
     "/api/v1/sites"),
    ("site search", "staff", "GET", "/api/v1/sites", None, {"q": "\u0000"}, "q", None),
    ("plan name", "staff", "POST", "/api/v1/rate-plans",
     {"name": NUL, "download_kbps": 1000, "upload_kbps": 100, "monthly_price": "10.00"},
     None, "name", "/api/v1/rate-plans"),
    ("token name", "staff", "POST", "/api/v1/api-tokens",
     {"name": NUL, "role": "manager"}, None, "name", "/api/v1/api-tokens"),
    ("gateway name", "staff", "POST", "/api/v1/gateways", {"name": NUL}, None, "name",
     "/api/v1/gateways"),
    ("work-order note", "staff", "POST", "/api/v1/work-orders/{work_order_id}/notes",
     {"body": "line one\nline \u0000two"}, None, "body",
     "/api/v1/work-orders/{work_order_id}/notes"),
    ("billing settings", "staff", "PATCH", "/api/v1/billing/settings",
     {"legal_name": NUL}, None, "legal_name", "/api/v1/billing/settings"),
    ("billing address", "staff", "PATCH", "/api/v1/billing/settings",
     {"legal_address": "Street 1\r\n\u0007City"}, None, "legal_address",
     "/api/v1/billing/settings"),
    ("single-line reason", "staff", "POST", "/api/v1/payments",
     {"subscriber_id": "{subscriber_id}", "amount": "1.00", "method": "cash",
      "reference": "two\nlines"}, None, "reference", "/api/v1/payments"),
    ("telemetry boot id", "gateway", "POST", "/gateway/v1/telemetry",
     {"samples": [{"seq": 1, "wan_rx_bytes": 1, "wan_tx_bytes": 1, "boot_id": NUL}]},
     None, "samples[0].boot_id", "/api/v1/gateways/{gateway_id}/telemetry"),
]  # fmt: skip


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


async def _world(tc: TenantClient, needs: str) -> dict[str, str]:
    """The ids a case's path or body names, made for real in the tenant."""
    names = {"email": tc.email, "slug": unique_slug()}
    if "{plan_id}" in needs or "{subscriber_id}" in needs or "{work_order_id}" in needs:
        plan = await make_plan(tc)
        names["plan_id"] = plan["id"]
        sub = await make_subscriber(tc, plan["id"])
        names["subscriber_id"] = sub["id"]
        names["work_order_id"] = sub["installation_work_order_id"]
    if "{gateway_id}" in needs:
        gateway, secret = await enrolled(tc)
        names["gateway_id"], names["secret"] = gateway["id"], secret
    return names


# Routes that take a sign-in (staff) or a credential (gateway) run both signed in and not; the
# others (sign-in, reset, signup) take none.
PARAMS = [
    pytest.param(signed_in, *case, id=f"{case[0]}-{'signed-in' if signed_in else 'anonymous'}")
    for case in CASES
    for signed_in in ((True, False) if case[1] in ("staff", "gateway") else (False,))
]


@pytest.mark.parametrize(
    ("signed_in", "name", "who", "method", "path", "body", "query", "field", "snapshot"), PARAMS
)
async def test_defect_3_nul_in_text_fields(
    two_tenants: tuple[TenantClient, TenantClient],
    app: Any,
    inbox: Any,
    signed_in: bool,
    name: str,
    who: str,
    method: str,
    path: str,
    body: Any,
    query: Any,
    field: str,
    snapshot: str | None,
) -> None:
    a, b = two_tenants
    names = await _world(a, json.dumps([path, body, snapshot]))
    path, body, snapshot = _fill(path, names), _fill(body, names), _fill(snapshot, names)
    seen = (await a.get(snapshot)).json() if snapshot else None
    jobs = await queued_ids()

    if who == "base":
        client = http(app)
    elif who == "gateway":
        client = gateway_client(app, names["secret"] if signed_in else "wisp_gw_nope", a.host)
    elif who == "staff" and signed_in:
        client = a.client
    else:
        client = (await anonymous(app, a)).client
    headers = {"X-CSRFToken": client.cookies.get("csrftoken") or "", **refused_id()}
    r = await client.request(method, path, json=body, params=query, headers=headers)

    fields = problem_fields(r)
    if who == "staff" and not signed_in:
        assert r.status_code == 401, r.text  # who you are is asked before what you sent
    elif who == "gateway" and not signed_in:
        # The gateway's credential is checked by the handler, after the input guard.
        assert r.status_code in (401, 422), r.text
    else:
        assert r.status_code == 422, r.text
        assert field in fields, r.text
        message = r.json()["errors"][0]["message"]
        assert "control character" in message.lower(), message
    # Nothing changed, for either tenant, and no job waits for it.
    assert await audit_of_refused(a) == await audit_of_refused(b) == []
    if snapshot:
        assert (await a.get(snapshot)).json() == seen
    assert await queued_ids() <= jobs
    if who == "base":
        from tenants.registry import tenant_by_slug

        assert await tenant_by_slug(names["slug"]) is None
        await client.aclose()
    if name == "password reset":
        assert await queued_for(str((await tenant_of(a)).id), "send_password_reset") == []
        assert not inbox.to("a\u0000@b.c") and not inbox.to("a@b.c")


async def test_defect_3_refusal_is_translated(make_tenant: Any, app: Any) -> None:
    tc = await make_tenant(language="es")
    visitor = await anonymous(app, tc)
    r = await visitor.post(
        "/api/v1/auth/login",
        json={"email": NUL_EMAIL, "password": "x"},
        headers={"Accept-Language": "es"},
    )
    assert problem_fields(r) == {"email"}
    assert r.json()["title"] == "Algunos campos no son válidos"
    assert "caracteres de control" in r.json()["errors"][0]["message"]


async def test_defect_3_password_reset_for_a_malformed_address_queues_nothing(
    make_tenant: Any, app: Any
) -> None:
    """Past the guard, the reset action still enqueues nothing for an address no mailbox can
    have (the answer stays the same as for any address)."""
    from app.core.audit import Actor
    from app.identity.recovery import request_reset

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    jobs = await queued_ids()
    for address in ("a\u0000@b.c", "not an address@", "x" * 400 + "@example.com", "a@b@c"):
        await request_reset(tenant, address, Actor(type="anonymous", ip="127.0.0.1"))
    assert await queued_ids() <= jobs
    assert await queued_for(str(tenant.id), "send_password_reset") == []


async def test_line_breaks_pass_where_text_spans_lines(make_tenant: Any) -> None:
    tc = await make_tenant()
    r = await tc.patch(
        "/api/v1/billing/settings", json={"legal_address": "Av. Corrientes 1234\r\n\tCABA"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["legal_address"] == "Av. Corrientes 1234\r\n\tCABA"
    r = await tc.post("/api/v1/sites", json={"name": "Tower\tNorth"})
    assert problem_fields(r) == {"name"}


async def test_controls_sent_raw_are_refused_too(make_tenant: Any) -> None:
    """DEL and the C1 controls may travel unescaped in JSON; they are refused all the same."""
    tc = await make_tenant()
    json_type = {"Content-Type": "application/json"}
    for name in ("Tower\u0085North", "Tower\u007f", "Tower\u009b31m"):
        raw = json.dumps({"name": name}, ensure_ascii=False).encode()
        r = await tc.post("/api/v1/sites", content=raw, headers=json_type)
        assert problem_fields(r) == {"name"}, (name, r.text)
    raw = json.dumps({"name": "Torre ¿Norte? ¡Sí! ñandú"}, ensure_ascii=False).encode()
    r = await tc.post("/api/v1/sites", content=raw, headers=json_type)
    assert r.status_code == 201, r.text


async def test_names_and_emails_are_stored_in_nfc(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)
    decomposed = "Jose\u0301 Nun\u0303ez"  # e + combining acute, n + combining tilde
    sub = await make_subscriber(tc, plan["id"], name=decomposed, email="jose\u0301@example.com")
    assert sub["name"] == "José Nuñez"
    assert sub["email"] == "josé@example.com"
    site = ok(await tc.post("/api/v1/sites", json={"name": "Cafe\u0301"}), 201)
    assert site["name"] == "Café"
    # The same name typed composed is the same site.
    r = await tc.post("/api/v1/sites", json={"name": "Café"})
    assert r.status_code == 409, r.text


# Defect 8 -------------------------------------------------------------------------------------


async def test_defect_8_huge_numbers_and_deep_json(
    two_tenants: tuple[TenantClient, TenantClient], app: Any
) -> None:
    a, b = two_tenants
    plan = await make_plan(a)
    sub = await make_subscriber(a, plan["id"])
    payments = (await a.get("/api/v1/payments")).json()
    for client in (a.client, b.client):
        client.headers.update(refused_id())

    for amount in ("99999999999999999999999", "10000000000.00", "1.00001", "1e30", "NaN"):
        r = await a.post(
            "/api/v1/payments",
            json={"subscriber_id": sub["id"], "amount": amount, "method": "cash"},
        )
        assert problem_fields(r) == {"amount"}, (amount, r.text)
        assert r.status_code == 422
    r = await a.post(
        "/api/v1/payments",
        json={"subscriber_id": sub["id"], "amount": 1e25, "method": "cash"},
    )
    assert problem_fields(r) == {"amount"}
    r = await a.post(
        f"/api/v1/invoices/{uuid.uuid4()}/credit-notes",
        json={"reason": "too much", "amount": "99999999999999999999999"},
    )
    assert problem_fields(r) == {"amount"}
    plan_body = {"name": "Big", "download_kbps": 1000, "upload_kbps": 1, "monthly_price": "1"}
    for field, value in (
        ("download_kbps", 2**70),
        ("upload_kbps", -1),
        ("monthly_price", "100000000.00"),
        ("tax_rate", "1000"),
        ("data_cap_gb", 2**31),
    ):
        r = await a.post("/api/v1/rate-plans", json={**plan_body, field: value})
        assert problem_fields(r) == {field}, r.text
    r = await a.patch("/api/v1/billing/settings", json={"grace_days": -(2**70)})
    assert problem_fields(r) == {"grace_days"}
    r = await a.post("/api/v1/sites", json={"name": "Far", "latitude": 1e308, "longitude": 0})
    assert problem_fields(r) == {"latitude"}
    r = await a.get("/api/v1/subscribers", params={"limit": str(2**70)})
    assert problem_fields(r) == {"limit"}

    # Runaway JSON: refused before any parser recurses through it, signed in or not.
    visitor = await anonymous(app, a)
    visitor.client.headers.update(refused_id())
    deep_cases = [
        (visitor, "/api/v1/auth/login", b"[" * 100_000),
        (visitor, "/api/v1/auth/login", b'{"a":' * 1000 + b"1" + b"}" * 1000),
        (a, "/api/v1/payments", b"[" * 100_000),
        (a, "/api/v1/subscribers", b"[" * 33 + b"]" * 33),
    ]
    for client, path, raw in deep_cases:
        r = await client.post(path, content=raw, headers={"Content-Type": "application/json"})
        problem_fields(r)
        assert r.status_code == 400, (path, r.text)
        assert "levels deep" in r.json()["detail"]
    # Brackets inside strings are text, not depth.
    r = await visitor.post(
        "/api/v1/auth/login", json={"email": "[" * 500 + "@example.com", "password": "x"}
    )
    assert r.status_code in (401, 422), r.text
    assert "levels deep" not in r.text
    # Too large: 413, before it is read whole.
    r = await visitor.post(
        "/api/v1/auth/login",
        content=b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'", "password": "x"}',
        headers={"Content-Type": "application/json"},
    )
    problem_fields(r)
    assert r.status_code == 413
    r = await visitor.post(
        "/api/v1/auth/login", content=b'{"email": "a', headers={"Content-Type": "application/json"}
    )
    problem_fields(r)
    assert r.status_code == 400

    assert await audit_of_refused(a) == await audit_of_refused(b) == []
    assert (await a.get("/api/v1/payments")).json() == payments


def _depth(value: Any) -> int:
    if isinstance(value, dict | list):
        items = value.values() if isinstance(value, dict) else value
        return 1 + max((_depth(v) for v in items), default=0)
    return 0


# Strings full of brackets, quotes and backslashes: what could fool a scan that does not parse.
_TRICKY = st.text(alphabet='[]{}"\\ab', max_size=8)
_JSON = st.recursive(
    st.none() | st.integers() | _TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3),
    max_leaves=80,
)


@settings(max_examples=400, deadline=None)
@given(value=_JSON, ascii_only=st.booleans(), limit=st.integers(min_value=1, max_value=8))
def test_json_depth_is_counted_exactly_without_parsing(
    value: Any, ascii_only: bool, limit: int
) -> None:
    from app.core.inputs import json_too_deep

    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_too_deep(body, limit) == (_depth(value) > limit), body


async def test_database_value_errors_are_422_not_500(make_tenant: Any) -> None:
    """The last line: a value that hides from the schema (here inside a page cursor, which is
    opaque base64) and that PostgreSQL cannot take is a 422, not a crash."""
    tc = await make_tenant()
    for name in ("a\u0000", "\ud800"):
        raw = json.dumps([name, str(uuid.uuid4())]).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        r = await tc.get("/api/v1/subscribers", params={"cursor": cursor})
        problem_fields(r)
        assert r.status_code == 422, r.text
        assert r.json()["type"] == "/problems/invalid"


# Declared on the schemas -----------------------------------------------------------------------


def _request_schemas(app: Any) -> dict[str, dict[str, Any]]:
    doc = app.openapi_schema.to_schema()
    names: set[str] = set()
    for ops in doc["paths"].values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            text = json.dumps(schema)
            names |= {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}
    # Nested bodies (telemetry samples, ack failures) are reached through their parents.
    pending, seen = list(names), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        text = json.dumps(doc["components"]["schemas"][name])
        pending += [part.split('"')[0] for part in text.split("#/components/schemas/")[1:]]
    return {name: doc["components"]["schemas"][name] for name in seen}


# 64-bit traffic counters: msgspec cannot state a bound beyond int64, so the telemetry ingest
# checks 2**64 - 1 itself (test_gateways covers it).
UNBOUNDED_BY_DESIGN = {"SampleIn.wan_rx_bytes", "SampleIn.wan_tx_bytes"}


def test_every_request_field_declares_its_bounds(app: Any) -> None:
    """A new text field without a length, or a number without a range, fails here: declare it
    with a type from app/core/inputs.py (or a Meta of its own)."""
    loose: list[str] = []
    for name, schema in _request_schemas(app).items():
        for field, prop in schema.get("properties", {}).items():
            kinds = {prop.get("type")} | {m.get("type") for m in prop.get("oneOf", [])}
            if "string" in kinds and "maxLength" not in prop and "pattern" not in prop:
                loose.append(f"{name}.{field}: text without maxLength")
            if (
                kinds & {"integer", "number"}
                and "maximum" not in prop
                and f"{name}.{field}" not in UNBOUNDED_BY_DESIGN
            ):
                loose.append(f"{name}.{field}: number without maximum")
            if "array" in kinds and "maxItems" not in prop:
                loose.append(f"{name}.{field}: list without maxItems")
    assert not loose, "\n".join(sorted(loose))


async def test_request_ids_are_echoed_only_when_plain(app: Any) -> None:
    async with http(app) as client:
        r = await client.get("/health", headers={"X-Request-ID": "abc-123.x"})
        assert r.headers["x-request-id"] == "abc-123.x"
        for bad in ("a" * 65, "two words", "<script>"):
            r = await client.get("/health", headers={"X-Request-ID": bad})
            assert r.headers["x-request-id"] != bad and len(r.headers["x-request-id"]) == 32


async def test_a_job_the_database_refuses_a_value_fails_once_not_ten_times(
    make_tenant: Any, worker: Any
) -> None:
    """Job side: a value the database cannot take fails the message at once (dead letters),
    instead of retrying it with back-off."""
    from app.core.config import get_settings
    from app.core.redis import get_redis
    from tests.conftest import eventually
    from tests.support.actors import look_up_staff

    tc = await make_tenant()
    tenant = await tenant_of(tc)
    marker = uuid.uuid4().hex
    look_up_staff.send(str(tenant.id), marker, NUL_EMAIL)
    redis = get_redis()
    namespace = get_settings().queue_namespace

    async def markers(queue: str) -> list[str]:
        # Keyed by the broker's own message id: find ours by its marker argument.
        raws = await redis.hvals(f"{namespace}:{queue}.msgs")
        return [json.loads(raw)["args"][1] for raw in raws]

    async def dead() -> bool:
        return marker in await markers("default.XQ")

    await eventually(dead)
    assert await redis.get(f"wisp:test:{marker}") == "1"  # it ran once
    assert marker not in await markers("default.DQ")  # and waits for no retry
