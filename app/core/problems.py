"""Errors as RFC 9457 problem details, translated into the request's language.

Actions raise `Problem` subclasses; the handlers here turn them, Litestar's own HTTP errors and
unexpected crashes into `application/problem+json` responses.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from app.core.i18n import _
from app.core.inputs import DECIMAL_DIGITS

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    status = 400
    slug = "bad-request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or "")
        self.detail = detail
        self.extra = extra

    def title(self) -> str:
        return _("Bad request")


class Unauthorized(Problem):
    status = 401
    slug = "unauthorized"

    def title(self) -> str:
        return _("Not signed in")


class Forbidden(Problem):
    status = 403
    slug = "forbidden"

    def title(self) -> str:
        return _("Not allowed")


class NotFound(Problem):
    status = 404
    slug = "not-found"

    def title(self) -> str:
        return _("Not found")


class Conflict(Problem):
    status = 409
    slug = "conflict"

    def title(self) -> str:
        return _("Conflict")


class TooManyRequests(Problem):
    status = 429
    slug = "too-many-requests"

    def __init__(self, detail: str | None = None, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after

    def title(self) -> str:
        return _("Too many attempts")


class Invalid(Problem):
    """422 naming each field that is wrong."""

    status = 422
    slug = "invalid"

    def __init__(self, errors: dict[str, str], detail: str | None = None) -> None:
        super().__init__(detail, errors=[{"field": k, "message": v} for k, v in errors.items()])
        self.errors = errors

    def title(self) -> str:
        return _("Some fields are not valid")


def problem(
    status: int, slug: str, title: str, detail: str | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
        body.pop("retry_after", None)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_problem(_request: Request[Any, Any, Any], exc: Problem) -> Response[dict[str, Any]]:
    extra = dict(exc.extra)
    if isinstance(exc, TooManyRequests):
        extra["retry_after"] = exc.retry_after
    return problem(exc.status, exc.slug, exc.title(), exc.detail, **extra)


_LIMIT = re.compile(r"^Expected `(\w+)`(?: of length)? (<=|>=|<|>) (-?[0-9.e+]+)")
_REGEX = re.compile(r"^Expected `str` matching regex '(.*)'$")


def _limit_message(kind: str, op: str, limit: str) -> str:
    if kind in ("str", "array", "object"):
        if op in ("<=", "<"):
            n = int(limit) - (op == "<")
            if kind == "str":
                return _("Use at most {limit} characters.").format(limit=n)
            return _("Send at most {limit} items.").format(limit=n)
        n = int(limit) + (op == ">")
        if kind == "str":
            return _("Use at least {limit} characters.").format(limit=n)
        return _("Send at least {limit} items.").format(limit=n)
    if op == "<=":
        return _("Use a number no greater than {limit}.").format(limit=limit)
    if op == "<":
        return _("Use a number less than {limit}.").format(limit=limit)
    if op == ">=":
        return _("Use a number no less than {limit}.").format(limit=limit)
    return _("Use a number greater than {limit}.").format(limit=limit)


def _field_message(message: str) -> str:
    """msgspec's reason for refusing a value, in the request's language."""
    if "missing required field" in message:
        return _("This field is required.")
    if limit := _LIMIT.match(message):
        return _limit_message(*limit.groups())
    if regex := _REGEX.match(message):
        pattern = regex.group(1).replace("\\\\", "\\")
        if pattern in DECIMAL_DIGITS:
            return _(
                'Use a decimal string such as "15.00", with at most {digits} digits before '
                "the point and 4 after."
            ).format(digits=DECIMAL_DIGITS[pattern])
        return _("This value is not in the expected format.")
    if message.startswith("Number out of range"):
        return _("This number is out of range.")
    if message.startswith("Expected"):
        return _("This field has the wrong type.")
    return _("This value is not valid.")


def handle_validation(
    _request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            key = str(item.get("key") or "body")
            message = str(item.get("message", ""))
            if "missing required field" in message and "`" in message:
                key = message.split("`")[1]
            errors.append({"field": key.removeprefix("$."), "message": _field_message(message)})
    if not errors:
        errors.append({"field": "body", "message": _("The request body is not valid JSON.")})
    return problem(422, "invalid", _("Some fields are not valid"), errors=errors)


_STATUS_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many attempts",
}


def _status_title(status: int) -> str:
    titles = {
        400: _("Bad request"),
        401: _("Not signed in"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        413: _("Request too large"),
        415: _("Unsupported media type"),
        429: _("Too many attempts"),
    }
    return titles.get(status, _("Request failed"))


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    detail = None
    if status == 403 and "CSRF" in str(exc.detail):
        detail = _("The security token of this form is missing or wrong. Reload and try again.")
    elif status == 400 and isinstance(exc.__cause__, SerializationException):
        detail = _("The request body is not valid JSON.")
    return problem(status, _STATUS_SLUGS.get(status, "error"), _status_title(status), detail)


_STATUS_SLUGS = {s: t.lower().replace(" ", "-") for s, t in _STATUS_TITLES.items()}


def handle_crash(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", exc_info=exc)
    return problem(
        500,
        "server-error",
        _("Something went wrong"),
        _("The error was recorded. Please try again in a moment."),
    )


# PostgreSQL's data exceptions (SQLSTATE class 22) that only a value from outside can cause:
# too long, too large, a character the database cannot store, text that is not a number or a
# date. The input policy (app.core.inputs) refuses these first; this is the last line, so an input
# that slips past it is a 422, never a 500. (Class 22 also holds errors of our own arithmetic,
# such as division by zero: those stay 500s.) The bare `DataError` is asyncpg's own refusal
# to encode an argument (an integer beyond its column's type, a string it cannot encode).
_VALUE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.StringDataRightTruncationError,
    asyncpg.exceptions.NumericValueOutOfRangeError,
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
    asyncpg.exceptions.InvalidTextRepresentationError,
    asyncpg.exceptions.InvalidBinaryRepresentationError,
    asyncpg.exceptions.InvalidDatetimeFormatError,
    asyncpg.exceptions.DatetimeFieldOverflowError,
    asyncpg.exceptions.IntervalFieldOverflowError,
    asyncpg.exceptions.InvalidEscapeSequenceError,
    asyncpg.exceptions.InvalidRegularExpressionError,
    asyncpg.exceptions.InvalidParameterValueError,
    asyncpg.exceptions.NullValueNoIndicatorParameterError,
)


def is_value_error(exc: BaseException) -> bool:
    """Whether a database error is an input that does not fit (not a fault of ours)."""
    return type(exc) is asyncpg.exceptions.DataError or isinstance(exc, _VALUE_ERRORS)


def handle_data_error(
    request: Request[Any, Any, Any], exc: asyncpg.exceptions.DataError
) -> Response[dict[str, Any]]:
    if not is_value_error(exc):
        return handle_crash(request, exc)
    # Logged without the value: it may be anything a client sent, secrets included.
    log.warning("input refused by the database: %s", type(exc).__name__)
    return problem(
        422,
        "invalid",
        _("Some fields are not valid"),
        _(
            "A value is too long, too large, or holds characters that cannot be stored. "
            "Check the fields and try again."
        ),
        errors=[],
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Problem: handle_problem,
    ValidationException: handle_validation,
    asyncpg.exceptions.DataError: handle_data_error,
    HTTPException: handle_http,
    Exception: handle_crash,
}
