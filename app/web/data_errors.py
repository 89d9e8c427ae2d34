"""Last resort: a value the database refuses is the client's input, not our crash.

Input validation (app/core/problems.py and the schemas) should refuse such values first, naming the
field. Whatever still reaches PostgreSQL or asyncpg — a NUL character in text, a number past a
column's range, a date the server cannot represent — is refused here with a 422 instead of a
500. The transaction it happened in has already rolled back, so nothing changed.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base
from litestar import Request, Response

from app.core.i18n import _
from app.core.problems import problem

log = logging.getLogger(__name__)


def handle_data_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Logged without the value: it is the client's input and may hold anything.
    log.warning("database refused a value: %s", type(exc).__name__)
    return problem(
        422,
        "invalid",
        _("Some fields are not valid"),
        _(
            "A value cannot be stored: it holds a control character (such as NUL) "
            "or a number out of range."
        ),
    )


DATA_ERROR_HANDLERS: dict[Any, Any] = {
    # SQLSTATE class 22 (data exception): invalid byte sequence, numeric value out of range…
    asyncpg.DataError: handle_data_error,
    # asyncpg's own check of a query argument (an integer past int64, for example).
    asyncpg_base.DataError: handle_data_error,
}
