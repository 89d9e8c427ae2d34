"""The OpenAPI document says what the API does: security, error answers, formats, enums.

The fuzzer (`tests/test_api_fuzz.py`) checks every answer against the document; these tests pin
the parts it cannot see (which routes refuse tokens, which honour Idempotency-Key) and the
defects it found (a value the database refuses answered 500).
"""

from __future__ import annotations

import inspect
from typing import Any

import jsonschema_rs
import pytest
from litestar.routes import HTTPRoute

from tests.conftest import http
from tests.support.provisioning import make_plan, ok

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def document(app: Any) -> dict[str, Any]:
    async with http(app) as client:
        r = await client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    ]


def handlers(app: Any) -> dict[str, Any]:
    out = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _kwargs) in route.route_handler_map.items():
                if handler.include_in_schema and method not in ("HEAD", "OPTIONS"):
                    out[f"{method} {route.path_format}"] = handler
    return out


async def test_document_declares_session_csrf_token_and_gateway_schemes(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {**schemes["session"], "in": "cookie", "name": "wisp_session"}
    assert schemes["csrf"]["name"] == "X-CSRFToken"
    assert schemes["apiToken"]["scheme"] == schemes["gatewaySecret"]["scheme"] == "bearer"
    ops = {f"{m} {p}": op for m, p, op in operations(document)}
    staff = ops["POST /api/v1/subscribers"]
    assert staff["security"] == [{"session": [], "csrf": []}, {"apiToken": []}]
    assert staff["x-roles"] == ["manager", "sales"]
    assert ops["GET /api/v1/portal/me"]["security"] == [{"session": []}]
    assert ops["POST /api/v1/auth/login"]["security"] == [{"csrf": []}]
    assert ops["GET /gateway/v1/state"]["security"] == [{"gatewaySecret": []}]
    assert ops["POST /gateway/v1/enroll"]["security"] == []
    assert ops["GET /health"]["security"] == []


async def test_routes_that_refuse_api_tokens_do_not_list_them(
    app: Any, document: dict[str, Any], make_tenant: Any
) -> None:
    from tenants.context import with_session

    ops = {f"{m} {p}": op for m, p, op in operations(document)}
    refusing = {key for key, h in handlers(app).items() if with_session in h.resolve_guards()}
    assert "POST /api/v1/api-tokens" in refusing
    for key, op in ops.items():
        assert ({"apiToken": []} in op["security"]) == (
            key not in refusing and "x-roles" in op and "subscriber" not in op["x-roles"]
        ), key
    # And the document is right: a manager's token is refused there, with the documented 403.
    tc = await make_tenant()
    token = ok(await tc.post("/api/v1/api-tokens", json={"name": "t", "role": "manager"}), 201)
    r = await tc.client.get(
        "/api/v1/api-tokens", headers={"Authorization": f"Bearer {token['token']}"}
    )
    assert r.status_code == 403
    assert "403" in ops["GET /api/v1/api-tokens"]["responses"]


async def test_idempotency_key_is_documented_exactly_where_it_is_honoured(
    app: Any, document: dict[str, Any]
) -> None:
    honoured = {
        key
        for key, h in handlers(app).items()
        # The `idempotency` dependency, or signup's own key (its record lives in the new tenant).
        if "idempotency" in inspect.signature(h.fn).parameters
        or "idempotency.key_for" in inspect.getsource(h.fn)
    }
    documented = {
        f"{m} {p}"
        for m, p, op in operations(document)
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
    }
    assert documented == honoured


async def test_every_error_answer_is_a_documented_problem(document: dict[str, Any]) -> None:
    assert "Problem" in document["components"]["schemas"]
    for method, path, op in operations(document):
        responses = op["responses"]
        errors = {int(s) for s in responses if int(s) >= 400}
        if path in ("/health", "/ready"):
            continue
        assert {401, 403, 404} <= errors, (method, path)
        if "requestBody" in op or op.get("parameters"):
            assert 422 in errors, (method, path)
        for status in errors:
            assert list(responses[str(status)]["content"]) == [PROBLEM], (method, path, status)
    ops = {f"{m} {p}": op for m, p, op in operations(document)}
    assert "429" in ops["POST /api/v1/auth/login"]["responses"]
    assert "Retry-After" in ops["POST /api/v1/auth/login"]["responses"]["429"]["headers"]
    assert "409" in ops["POST /api/v1/subscribers/{subscriber_id}/suspend"]["responses"]
    assert "409" not in ops["GET /api/v1/subscribers"]["responses"]


async def test_fields_carry_formats_and_enums(document: dict[str, Any]) -> None:
    from app.core.roles import Role
    from app.subscribers.status import STATUSES

    schemas = document["components"]["schemas"]
    out = schemas["SubscriberOut"]["properties"]
    assert out["id"]["format"] == "uuid"
    assert out["email"]["format"] == "email"
    assert out["created_at"]["format"] == "date-time"
    assert out["status"]["enum"] == list(STATUSES)
    assert {"type": "string", "format": "date"} in out["billing_start_date"]["oneOf"]
    assert schemas["InvitationIn"]["properties"]["role"]["enum"] == [r.value for r in Role]
    assert schemas["SuspendIn"]["properties"]["reason"]["enum"] == [
        "non_payment",
        "admin",
        "data_cap",
    ]
    assert schemas["PaymentIn"]["properties"]["amount"]["pattern"]
    assert schemas["SubscriberIn"]["additionalProperties"] is False
    assert "additionalProperties" not in schemas["SubscriberOut"]
    assert "format" not in schemas["SettingsOut"]["properties"]["tax_id"]


async def test_passkey_options_answers_match_their_documented_schemas(
    document: dict[str, Any], make_tenant: Any
) -> None:
    tc = await make_tenant()
    ops = {f"{m} {p}": op for m, p, op in operations(document)}
    for key, client in (
        ("POST /api/v1/auth/passkeys/registration/options", tc),
        ("POST /api/v1/auth/passkeys/authentication/options", tc),
    ):
        schema = ops[key]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["required"]  # an object described, not a bare string
        answer = ok(await client.post(key.split(" ", 1)[1]))
        jsonschema_rs.validate(schema, answer)


# Defects the fuzzer found -------------------------------------------------------------------


async def test_nul_character_that_reaches_the_database_is_422_not_500(make_tenant: Any) -> None:
    tc = await make_tenant()
    anonymous = http(tc.client._transport.app, tc.host)  # type: ignore[attr-defined]
    await anonymous.get("/api/v1/auth/me")
    csrf = {"X-CSRFToken": anonymous.cookies.get("csrftoken") or ""}
    r = await anonymous.post(
        "/api/v1/auth/login", json={"email": "a\u0000@b.c", "password": "x"}, headers=csrf
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    await anonymous.aclose()
    r = await tc.get("/api/v1/subscribers", params={"q": "\x00"})
    assert r.status_code == 422, r.text
    r = await tc.post("/api/v1/sites", json={"name": "Tower\x00"})
    assert r.status_code == 422, r.text
    assert ok(await tc.get("/api/v1/sites"))["items"] == []  # nothing changed


async def test_staff_list_filtered_by_a_role_with_nul_is_422_not_500(make_tenant: Any) -> None:
    tc = await make_tenant()
    r = await tc.get("/api/v1/staff", params={"role": "sales\x00"})
    assert r.status_code == 422, r.text


async def test_import_of_a_file_the_csv_reader_refused_is_not_a_500(make_tenant: Any) -> None:
    tc = await make_tenant()
    plan = await make_plan(tc)

    async def dry_run(raw: bytes) -> Any:
        return await tc.post(
            "/api/v1/subscribers/import",
            params={"dry_run": "true"},
            content=raw,
            headers={"content-type": "text/csv"},
        )

    # Old Mac line ends (a bare CR) are line ends, not a crash.
    r = await dry_run(f"name,email,plan\rAna,ana@example.com,{plan['name']}\r".encode())
    assert ok(r)["errors"] == []
    assert ok(r)["rows"] == 1
    # A field past the csv module's own limit is read whole and refused by row and column.
    r = await dry_run(b'name,email,plan\n"' + b"x" * 200_000)
    assert r.status_code == 200, r.text
    assert {"row": 2, "field": "name", "message": "Use at most 1000 characters."} in ok(r)["errors"]
    assert ok(await tc.get("/api/v1/subscribers"))["items"] == []
