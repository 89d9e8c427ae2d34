"""The app-wide guard that applies the input policy (`app.core.inputs`) before any handler runs.

It runs after the role × route guard (so a stranger still gets 401/403, not a hint about the
body), on every route, and checks:

- every query parameter (name and value), every text path parameter and every text field of
  a form: no control characters, at most `MAX_PARAMETER` characters;
- a JSON body, when the handler takes one (`data`): its size is Litestar's
  `request_max_body_size` (413); its depth is counted on the raw bytes before it is parsed
  (a deep document exhausts the parser's recursion); then every string in it is checked
  against the field it lands in, so tab and line breaks pass only in fields declared
  multi-line, and a key or value the schema leaves open (`dict[str, Any]`) is held to the
  single-line rule.

The parsed body is the one the handler's own decoding reuses (Litestar caches it on the
request), so the check costs one walk, and nothing when the body cannot hold a control
character (`app.core.inputs.may_hold_control`).
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import BodyKwarg

from app.core import inputs
from app.core.i18n import _
from app.core.problems import Invalid, Problem

MAX_PARAMETER = 2000
"""Characters in one query or path parameter (a page cursor is the longest, ~500)."""

Errors = dict[str, str]
_ANY = msgspec.inspect.AnyType()


class BadJson(Problem):
    status = 400
    slug = "bad-request"

    def title(self) -> str:
        return _("Bad request")


def _check_parameter(errors: Errors, name: str, value: str) -> None:
    reason = inputs.check_text(name) or inputs.check_text(value)
    if reason is None and len(value) > MAX_PARAMETER:
        reason = _("Use at most {limit} characters.").format(limit=MAX_PARAMETER)
    if reason is not None:
        errors.setdefault(inputs.printable(name)[:100], reason)


def parameter_errors(connection: ASGIConnection[Any, Any, Any, Any]) -> Errors:
    errors: Errors = {}
    for name, value in connection.query_params.multi_items():
        if isinstance(value, str):
            _check_parameter(errors, name, value)
    for name, value in connection.path_params.items():
        if isinstance(value, str):
            _check_parameter(errors, name, value)
    return errors


@functools.cache
def _body_type(handler: BaseRouteHandler) -> msgspec.inspect.Type | None:
    """What the handler's JSON body decodes into, as msgspec describes it (None: no body)."""
    field = handler.parsed_data_field
    if field is None:
        return None
    kwarg = field.kwarg_definition
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type not in (RequestEncodingType.JSON, None):
        return None
    try:
        return msgspec.inspect.type_info(field.annotation)
    except (TypeError, ValueError):  # a type msgspec does not describe: every string is text
        return _ANY


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _pick(node: msgspec.inspect.Type, value: Any) -> msgspec.inspect.Type:
    """The member of a union that `value` would decode into (for the multi-line rule)."""
    if not isinstance(node, msgspec.inspect.UnionType):
        return node
    for member in node.types:
        inner = member.type if isinstance(member, msgspec.inspect.Metadata) else member
        if isinstance(value, str) and isinstance(inner, msgspec.inspect.StrType):
            return member
        if isinstance(value, dict) and isinstance(
            inner, msgspec.inspect.StructType | msgspec.inspect.DictType
        ):
            return member
        if isinstance(value, list) and isinstance(
            inner,
            msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.VarTupleType,
        ):
            return member
    return _ANY


_FIELDS: dict[int, dict[str, msgspec.inspect.Type]] = {}
_MULTILINE: dict[int, bool] = {}


def _fields(node: msgspec.inspect.StructType) -> dict[str, msgspec.inspect.Type]:
    # Keyed by id: the described types live as long as `_body_type`'s cache holds them.
    fields = _FIELDS.get(id(node))
    if fields is None:
        fields = _FIELDS[id(node)] = {f.encode_name: f.type for f in node.fields}
    return fields


def _multiline(node: msgspec.inspect.Type) -> bool:
    flag = _MULTILINE.get(id(node))
    if flag is None:
        flag = _MULTILINE[id(node)] = inputs.declares(node, inputs.MULTILINE)
    return flag


def walk(value: Any, node: msgspec.inspect.Type, path: str, errors: Errors) -> None:
    """Check every string in a decoded JSON value against the schema node it lands in."""
    node = _pick(node, value)
    multiline = _multiline(node)
    if isinstance(node, msgspec.inspect.Metadata):
        node = _pick(node.type, value)
    if isinstance(value, str):
        reason = inputs.check_text(value, multiline=multiline)
        if reason is not None:
            errors.setdefault(path or "body", reason)
    elif isinstance(value, dict):
        if isinstance(node, msgspec.inspect.StructType):
            fields = _fields(node)
            for key, item in value.items():
                # A key the struct does not know is refused by msgspec (or, in the lenient
                # gateway protocol, never read); only its name is held to the rule here.
                if key in fields:
                    walk(item, fields[key], _path(path, key), errors)
                elif (reason := inputs.check_text(key)) is not None:
                    errors.setdefault(_path(path, inputs.printable(key)), reason)
        else:
            inner = node.value_type if isinstance(node, msgspec.inspect.DictType) else _ANY
            for key, item in value.items():
                if (reason := inputs.check_text(key)) is not None:
                    errors.setdefault(_path(path, inputs.printable(key)), reason)
                else:
                    walk(item, inner, _path(path, key), errors)
    elif isinstance(value, list):
        inner = getattr(node, "item_type", _ANY)
        for index, item in enumerate(value):
            walk(item, inner, _path(path, index), errors)


async def body_errors(request: Request[Any, Any, Any], node: msgspec.inspect.Type) -> Errors:
    body = await request.body()  # over `request_max_body_size`: 413
    if not body:
        return {}
    if inputs.json_too_deep(body):
        raise BadJson(
            _("The request body nests more than {limit} levels deep.").format(
                limit=inputs.MAX_JSON_DEPTH
            )
        )
    if not inputs.may_hold_control(body):
        return {}
    try:
        value = await request.json()
    except SerializationException:
        raise BadJson(_("The request body is not valid JSON.")) from None
    errors: Errors = {}
    walk(value, node, "", errors)
    return errors


_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


async def form_errors(request: Request[Any, Any, Any]) -> Errors:
    """The text fields of a form (a photo's caption): single-line, like a query parameter.

    Litestar keeps the parsed form for the handler, which reads it again for free."""
    errors: Errors = {}
    form = await request.form()
    for name, value in form.multi_items():
        if isinstance(value, str):
            _check_parameter(errors, name, value)
    return errors


async def check_input(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The guard: 422 naming each parameter or body field that breaks the input policy."""
    errors = parameter_errors(connection)
    if isinstance(connection, Request):
        node = _body_type(handler)
        if node is not None:
            errors.update(await body_errors(connection, node))
        elif connection.method in ("POST", "PUT", "PATCH") and connection.headers.get(
            "content-type", ""
        ).startswith(_FORMS):
            errors.update(await form_errors(connection))
    if errors:
        raise Invalid(errors)
