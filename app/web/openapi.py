"""Make the generated OpenAPI document say what the API really does.

Litestar writes the document from the handlers' types. This module finishes it once, when the
app is created, from what the app already knows about each route, instead of a decorator on
every handler:

- security: the role × route table (`app.identity.permissions`) says who may call a route, and
  the `with_session` guard which routes refuse API tokens, so each operation lists the schemes
  that work for it (a session cookie, plus its CSRF header on unsafe methods; an API token; a
  gateway's secret) and, in `x-roles`, the roles it admits;
- errors: every status a route can answer besides its success, each as problem+json. Some hold
  for every route (unknown host 404; bad bearer 401; suspended tenant, role or CSRF 403; input
  422); 409 and 429 come from the tables below (or a handler's `opt["errors"]`);
- formats, patterns and enums on string fields (`app.web.openapi_fields`);
- the `Idempotency-Key` header on the routes that honour it;
- the WebAuthn option objects the passkey routes return.

The API fuzzer (`tests/test_api_fuzz.py`) checks the answers against this document.
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from app.core.problems import PROBLEM_JSON
from app.core.roles import ANYONE, STAFF
from app.identity.permissions import callers
from app.identity.sessions import COOKIE as SESSION_COOKIE
from app.web import openapi_fields
from app.web.middleware import GATEWAY_PREFIX, HOSTLESS_PATHS
from app.web.openapi_webauthn import CREATION_OPTIONS, REQUEST_OPTIONS
from tenants.context import with_session

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Routes that can answer 409: the action refuses because of the state of things.
CONFLICTS = frozenset(
    {
        "POST /api/v1/signup",
        "POST /api/v1/signup/confirm/resend",
        "POST /api/v1/auth/invitations/accept",
        "POST /api/v1/auth/passkeys/registration",
        "DELETE /api/v1/auth/passkeys/{passkey_id}",
        "PATCH /api/v1/auth/passkey-only",
        "PATCH /api/v1/staff/{user_id}",
        "POST /api/v1/staff/{user_id}/deactivate",
        "POST /api/v1/staff/invitations",
        "DELETE /api/v1/staff/invitations/{invitation_id}",
        "POST /api/v1/billing/runs",
        "POST /api/v1/invoices/{invoice_id}/void",
        "POST /api/v1/invoices/{invoice_id}/credit-notes",
        "POST /api/v1/payments",
        "POST /api/v1/payments/{payment_id}/reverse",
        "POST /api/v1/rate-plans",
        "PATCH /api/v1/rate-plans/{plan_id}",
        "DELETE /api/v1/rate-plans/{plan_id}",
        "POST /api/v1/sites",
        "PATCH /api/v1/sites/{site_id}",
        "DELETE /api/v1/sites/{site_id}",
        "POST /api/v1/access-points",
        "PATCH /api/v1/access-points/{ap_id}",
        "DELETE /api/v1/access-points/{ap_id}",
        "POST /api/v1/subscribers",
        "PATCH /api/v1/subscribers/{subscriber_id}",
        "POST /api/v1/subscribers/{subscriber_id}/suspend",
        "POST /api/v1/subscribers/{subscriber_id}/resume",
        "POST /api/v1/subscribers/{subscriber_id}/cancel",
        "POST /api/v1/subscribers/{subscriber_id}/plan-changes",
        "POST /api/v1/subscribers/{subscriber_id}/portal-invitation",
        "POST /api/v1/subscribers/{subscriber_id}/link-test",
        "POST /api/v1/work-orders",
        "POST /api/v1/work-orders/{work_order_id}/schedule",
        "POST /api/v1/work-orders/{work_order_id}/start",
        "POST /api/v1/work-orders/{work_order_id}/authenticate-cpe",
        "POST /api/v1/work-orders/{work_order_id}/activate",
        "POST /api/v1/work-orders/{work_order_id}/sign-off",
        "POST /api/v1/work-orders/{work_order_id}/cancel",
    }
)

# Routes behind the sign-in throttle (app/identity/throttle.py): 429 with Retry-After.
THROTTLED = frozenset(
    {
        "POST /api/v1/signup",
        "POST /api/v1/signup/confirm",
        "POST /api/v1/signup/confirm/resend",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/password",
        "POST /api/v1/auth/password-reset/confirm",
        "POST /api/v1/auth/invitations/accept",
        "POST /api/v1/auth/passkeys/authentication",
        "POST /api/v1/portal/auth/login",
        "POST /api/v1/portal/invitations/accept",
    }
)

# Routes that honour `Idempotency-Key` beyond the handlers taking the `idempotency`
# dependency (`takes_idempotency`): signup keeps its record in the tenant it creates.
IDEMPOTENT = frozenset({"POST /api/v1/signup"})


def takes_idempotency(handler: HTTPRouteHandler) -> bool:
    return "idempotency" in inspect.signature(handler.fn).parameters


# Routes whose body is read by the handler itself (not declared by a `data` type).
RAW_BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/subscribers/import": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
    "POST /api/v1/work-orders/{work_order_id}/photos": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "caption": {"type": "string"},
                },
                "required": ["file"],
            }
        },
    },
}
# Statuses a raw body can add: a malformed form (400), a body over the route's limit (413),
# a content type the route does not read (415).
RAW_BODY_ERRORS = (400, 413, 415)

PASSKEY_OPTIONS = {
    "POST /api/v1/auth/passkeys/registration/options": CREATION_OPTIONS,
    "POST /api/v1/auth/passkeys/authentication/options": REQUEST_OPTIONS,
}

TITLES = {
    400: "The request body cannot be read (not JSON, not UTF-8, a broken form)",
    401: "Not signed in, or the credential is not valid",
    403: "Not allowed: role, CSRF token, API token refused, or the WISP is suspended",
    404: "Not found, or no WISP is served at this host",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Some input is not valid (the `errors` name each field)",
    429: "Too many attempts (see Retry-After)",
    503: "A service the app needs is unreachable",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details, translated into the request's language.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The session a sign-in sets (staff or subscriber), valid on its host only.",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "Unsafe methods on a WISP's host send the value of the `csrftoken` "
        "cookie (set by any GET) in this header.",
    },
    "apiToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token a manager made; it acts with the role it was made for. "
        "Operations that do not list it refuse it (403).",
    },
    "gatewaySecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "The secret a gateway got when it enrolled (`/gateway/v1/enroll`).",
    },
}


def finish(app: Litestar) -> dict[str, Any]:
    """Finish the app's OpenAPI document in place (the copy `/schema` serves) and return it."""
    document = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    strict = _strict_structs()
    for name, schema in components["schemas"].items():
        _annotate_properties(name, schema)
        if name in strict and schema.get("type") == "object":
            schema["additionalProperties"] = False
    for path, method, handler in _operations(app):
        operation = document["paths"].get(path, {}).get(method.lower())
        if operation is not None:
            _finish_operation(f"{method} {path}", operation, handler)
    return document


def _strict_structs() -> set[str]:
    """Names of the msgspec Structs that refuse unknown fields (input schemas): their
    documents say `additionalProperties: false`, as the decoder does."""
    by_name: dict[str, list[bool]] = {}
    stack: list[type[msgspec.Struct]] = [msgspec.Struct]
    while stack:
        for sub in stack.pop().__subclasses__():
            by_name.setdefault(sub.__name__, []).append(sub.__struct_config__.forbid_unknown_fields)
            stack.append(sub)
    return {name for name, strict in by_name.items() if all(strict)}


def _operations(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    found: list[tuple[str, str, HTTPRouteHandler]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, _kwargs) in route.route_handler_map.items():
            if method not in ("OPTIONS", "HEAD") and handler.include_in_schema:
                found.append((route.path_format, str(method), handler))
    return found


def _finish_operation(key: str, operation: dict[str, Any], handler: HTTPRouteHandler) -> None:
    method, path = key.split(" ", 1)
    who = callers(handler) or frozenset()
    refuses_tokens = with_session in handler.resolve_guards()
    operation["security"] = _security(method, path, who, refuses_tokens)
    if ANYONE not in who:
        operation["x-roles"] = sorted(who)
    parameters = operation.setdefault("parameters", [])
    for parameter in parameters:
        extra = openapi_fields.for_parameter(key, parameter["name"])
        if extra:
            _annotate(parameter["schema"], extra)
    if key in IDEMPOTENT or takes_idempotency(handler):
        parameters.append(IDEMPOTENCY_HEADER)
    if key in RAW_BODIES:
        operation["requestBody"] = {"required": True, "content": RAW_BODIES[key]}
    if not parameters:
        del operation["parameters"]
    responses = operation.setdefault("responses", {})
    responses.pop("400", None)  # Litestar's validation answer: ours is a 422 problem
    if key in PASSKEY_OPTIONS:
        responses["200"]["content"] = {"application/json": {"schema": PASSKEY_OPTIONS[key]}}
    for status in sorted(_errors(key, operation, handler)):
        responses[str(status)] = _problem_response(status)


def _security(
    method: str, path: str, who: frozenset[str], refuses_tokens: bool
) -> list[dict[str, list[str]]]:
    csrf = method in UNSAFE
    if path.startswith(GATEWAY_PREFIX):
        return [] if path.endswith("/enroll") else [{"gatewaySecret": []}]
    if ANYONE in who:
        exempt = path in HOSTLESS_PATHS or path == "/api/v1/signup"
        return [{"csrf": []}] if csrf and not exempt else []
    session: dict[str, list[str]] = {"session": [], "csrf": []} if csrf else {"session": []}
    if who & STAFF and not refuses_tokens:
        return [session, {"apiToken": []}]
    return [session]


def _errors(key: str, operation: dict[str, Any], handler: HTTPRouteHandler) -> set[int]:
    path = key.split(" ", 1)[1]
    if path in HOSTLESS_PATHS:
        return {503} if path == "/ready" else set()
    # Every other route: 404 for an unknown host, 401 for a bad credential, 403 for a
    # suspended WISP, a role that may not, or a missing CSRF token.
    errors = {401, 403, 404}
    if operation.get("parameters") or "requestBody" in operation:
        errors.add(422)
    if "requestBody" in operation:
        errors.update((400, 413))  # a body that is not JSON (or not UTF-8); one over the limit
    if key in RAW_BODIES:
        errors.update(RAW_BODY_ERRORS)
    if key in CONFLICTS:
        errors.add(409)
    if key in THROTTLED:
        errors.add(429)
    errors.update(handler.opt.get("errors", ()))
    return errors


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": TITLES.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        }
    return response


IDEMPOTENCY_HEADER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retrying with the same key replays the first answer instead of acting "
    "twice; the same key with another body is refused (422).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def _annotate_properties(schema_name: str, schema: dict[str, Any]) -> None:
    for field, prop in schema.get("properties", {}).items():
        extra = openapi_fields.for_field(schema_name, field)
        if extra:
            _annotate(prop, extra)


def _annotate(schema: dict[str, Any], extra: dict[str, Any]) -> None:
    """Add `extra` to the string branch of a (possibly nullable) schema."""
    kind = schema.get("type")
    if kind == "string" or (isinstance(kind, list) and "string" in kind):
        for key, value in extra.items():
            if key == "enum" and isinstance(kind, list) and "null" in kind:
                value = [*value, None]
            schema.setdefault(key, value)
        return
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        if branch.get("type") == "string":
            _annotate(branch, extra)
