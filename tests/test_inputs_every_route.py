"""Every route of the app, called with NUL in every text it takes and with numbers beyond any
column, as every kind of caller: never a 5xx, always problem+json, and where the caller may use
the route, a 422 naming each field that holds a NUL.

The OpenAPI document says which fields each operation's body and query take; routes outside it
(the PWA's pages and files) are called with NUL in their path and query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from litestar.routes import HTTPRoute

from tests.conftest import TenantClient, http
from tests.inputs_support import PROBLEM
from tests.support.identity import tenant_of
from tests.test_gateways_support import enrolled, gateway_client

NUL_TEXT = "x\u0000y"
HUGE_INT = 2**70
HUGE_FLOAT = 1e308


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _member(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The first member of a oneOf / anyOf that is not null (with the outer constraints)."""
    schema = resolve(doc, schema)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            members = [resolve(doc, m) for m in schema[key]]
            chosen = next((m for m in members if m.get("type") != "null"), members[0])
            outer = {k: v for k, v in schema.items() if k != key}
            return {**outer, **chosen}
    return schema


Path = tuple[str | int, ...]


def field_name(path: Path) -> str:
    """A path as the API names fields: `samples[0].boot_id`."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out or "body"


def sample(
    doc: dict[str, Any], schema: dict[str, Any], path: Path, text: str, number: bool
) -> tuple[Any, list[Path]]:
    """A value for `schema` with `text` in every string (and, if `number`, the largest numbers);
    and the paths of the strings it holds."""
    schema = _member(doc, schema)
    kind = schema.get("type")
    if kind == "string" or (kind is None and "enum" in schema):
        return text, [path]
    if kind == "integer":
        return (HUGE_INT if number else 1), []
    if kind == "number":
        return (HUGE_FLOAT if number else 1.0), []
    if kind == "boolean":
        return True, []
    if kind == "array":
        item, paths = sample(doc, schema.get("items", {}), (*path, 0), text, number)
        return [item], paths
    if kind == "object" or "properties" in schema:
        out: dict[str, Any] = {}
        paths: list[Path] = []
        for name, prop in schema.get("properties", {}).items():
            value, found = sample(doc, prop, (*path, name), text, number)
            out[name] = value
            paths += found
        if not schema.get("properties") and schema.get("additionalProperties", True) is not False:
            out["k"] = text
            paths.append((*path, "k"))
        return out, paths
    return text, [path]


def with_text(value: Any, path: Path, text: str) -> Any:
    """A copy of `value` with `text` at `path`."""
    if not path:
        return text
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        return [with_text(v, rest, text) if i == head else v for i, v in enumerate(value)]
    return {k: with_text(v, rest, text) if k == head else v for k, v in value.items()}


def operations(app: Any, doc: dict[str, Any]) -> Iterator[tuple[HTTPRoute, str, dict[str, Any]]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            yield route, method, doc["paths"].get(route.path_format, {}).get(method.lower(), {})


def concrete(route: HTTPRoute, nul_in: str | None = None) -> str:
    path = route.path_format
    for name in route.path_parameters:
        value = "%00" if name == nul_in else str(uuid.uuid4())
        path = path.replace("{" + name + "}", value)
    return path


async def _clients(app: Any, tc: TenantClient, secret: str) -> dict[str, httpx.AsyncClient]:
    """A client per kind of caller; staff and subscriber sessions are made fresh per call."""
    return {
        "anonymous": http(app, tc.host),
        "base host": http(app),
        "gateway": gateway_client(app, secret, tc.host),
    }


async def test_every_route_answers_nul_and_huge_numbers_without_a_5xx(
    two_tenants: tuple[TenantClient, TenantClient], app: Any
) -> None:
    from app.identity import sessions
    from app.identity.sessions import Principal
    from tests.support.identity import add_user

    tc, _other = two_tenants
    tenant = await tenant_of(tc)
    _gateway, secret = await enrolled(tc)
    manager_id, manager_email = await add_user(tc, "manager")
    manager = Principal("staff", manager_id, manager_email, "Manager", "manager", None, 0.0)
    subscriber = Principal(
        "subscriber", str(uuid.uuid4()), f"sub@{tc.slug}.example.com", "Sub", "", None, 0.0
    )
    csrf = tc.client.cookies.get("csrftoken") or ""
    doc = app.openapi_schema.to_schema()
    clients = await _clients(app, tc, secret)
    failures: list[str] = []
    guarded: set[str] = set()  # operations with a body where some caller reached the guard
    with_body: set[str] = set()
    calls = 0

    async def call(
        who: str, method: str, path: str, body: Any = None, query: Any = None, **kw: Any
    ) -> httpx.Response:
        nonlocal calls
        calls += 1
        headers = {"X-CSRFToken": csrf, "Cookie": f"csrftoken={csrf}"}
        if who in ("manager", "subscriber"):
            session = await sessions.start(tenant, manager if who == "manager" else subscriber)
            headers["Cookie"] += f"; wisp_session={session}"
        client = clients.get(who, clients["anonymous"])
        return await client.request(method, path, json=body, params=query, headers=headers, **kw)

    def check(label: str, r: httpx.Response) -> bool:
        if r.status_code >= 500:
            failures.append(f"{label}: {r.status_code} {r.text[:200]}")
            return False
        if r.status_code >= 400 and not r.headers.get("content-type", "").startswith(PROBLEM):
            failures.append(f"{label}: {r.status_code} is not problem+json")
            return False
        return True

    for route, method, op in operations(app, doc):
        key = f"{method} {route.path_format}"
        callers = ["anonymous", "base host"]
        if route.path_format.startswith("/gateway/"):
            callers.append("gateway")
        elif route.path_format.startswith("/api/v1/portal"):
            callers.append("subscriber")
        else:
            callers.append("manager")
        params = [p for p in op.get("parameters", []) if p["in"] == "query"]
        content = op.get("requestBody", {}).get("content", {})
        body_schema = content.get("application/json", {}).get("schema")
        if body_schema is not None:
            with_body.add(key)
        for who in callers:
            label = f"{key} as {who}"
            # NUL in every string of the body and in every query parameter at once (plus one
            # the route does not know).
            body, paths = (
                sample(doc, body_schema, (), NUL_TEXT, False) if body_schema else (None, [])
            )
            query = {p["name"]: NUL_TEXT for p in params} | {"zz": NUL_TEXT}
            r = await call(who, method, concrete(route), body, query)
            if check(f"{label} (NUL)", r) and r.status_code == 422:
                named = {e["field"] for e in r.json().get("errors", [])}
                missing = ({field_name(p) for p in paths} | set(query)) - named
                if missing:
                    failures.append(f"{label} (NUL): not named {sorted(missing)}: {r.text[:300]}")
                if body_schema is not None:
                    guarded.add(key)
            # NUL in each path parameter.
            for name in route.path_parameters:
                r = await call(who, method, concrete(route, name), body and {}, None)
                check(f"{label} (NUL in {name})", r)
            if who in ("anonymous", "base host"):
                continue
            # As the caller the route is for: NUL in one field at a time, plain text in the
            # others, so nothing else is refused first; it must be named, alone.
            plain, paths = sample(doc, body_schema, (), "x", False) if body_schema else (None, [])
            singles = [(field_name(p), with_text(plain, p, NUL_TEXT), None) for p in paths]
            singles += [(p["name"], plain, {p["name"]: NUL_TEXT}) for p in params]
            for field, one_body, one_query in singles:
                r = await call(who, method, concrete(route), one_body, one_query)
                if not check(f"{label} (NUL in {field})", r) or r.status_code in (401, 403):
                    continue
                named = [e["field"] for e in r.json().get("errors", [])] if r.is_error else []
                if r.status_code != 422 or named != [field]:
                    failures.append(f"{label} (NUL in {field}): {r.status_code} {r.text[:300]}")
            # Numbers beyond every column, plain text elsewhere.
            if body_schema is not None or params:
                body = sample(doc, body_schema, (), "x", True)[0] if body_schema else None
                query = {
                    p["name"]: str(HUGE_INT)
                    for p in params
                    if _member(doc, p["schema"]).get("type") in ("integer", "number")
                }
                r = await call(who, method, concrete(route), body, query)
                check(f"{label} (huge numbers)", r)

    # Forms and raw bodies, which the OpenAPI document does not describe.
    plan = (
        await tc.post(
            "/api/v1/rate-plans",
            json={"name": "P", "download_kbps": 1000, "upload_kbps": 100, "monthly_price": "1"},
        )
    ).json()
    sub = (
        await tc.post(
            "/api/v1/subscribers",
            json={"name": "S", "email": "s@example.com", "plan_id": plan["id"]},
        )
    ).json()
    work_order = sub["installation_work_order_id"]
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    r = await call(
        "manager",
        "POST",
        f"/api/v1/work-orders/{work_order}/photos",
        files={"file": ("a.png", png, "image/png")},
        data={"caption": NUL_TEXT},
    )
    if check("photo caption", r) and "caption" not in {
        e["field"] for e in r.json().get("errors", [])
    }:
        failures.append(f"photo caption: not named: {r.status_code} {r.text[:200]}")
    r = await call(
        "manager",
        "POST",
        "/api/v1/subscribers/import",
        query={"dry_run": "true"},
        files={"file": ("s.csv", f"name,email,plan\n{NUL_TEXT},a@example.com,P\n", "text/csv")},
    )
    check("CSV import with a NUL (dry run)", r)

    for client in clients.values():
        await client.aclose()
    assert not failures, f"{len(failures)} of {calls} calls failed:\n" + "\n".join(failures)
    # The guard was reached on every operation that takes a JSON body, by some caller.
    assert with_body - guarded == set(), sorted(with_body - guarded)
