"""Helpers for the fault tests: waiting, terminating backends, reading what the mail server got."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import httpx

from tests.conftest import Inbox


async def until(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)


async def terminate(pid: int) -> None:
    """pg_terminate_backend: the server ends that session, mid-transaction, as a crash or an
    administrator would."""
    from app.core.db import DB

    async with DB.pool.acquire() as conn:  # type: ignore[union-attr]
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)


def mails_to(inbox: Inbox, addresses: set[str], subject: str = "") -> list[EmailMessage]:
    wanted = {a.lower() for a in addresses}
    return [
        m
        for m in list(inbox.messages)
        if str(m["To"]).lower() in wanted and subject.lower() in str(m["Subject"]).lower()
    ]


def assert_unavailable(response: httpx.Response) -> None:
    """An outage answers 503 problem+json with Retry-After, never a 500."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0


async def retrying(call: Callable[[], Awaitable[httpx.Response]], tries: int = 40) -> Any:
    """What a client (the PWA's outbox) does: on 503, wait and send the same request again.
    Returns the first other answer; a 500 fails the test."""
    for _ in range(tries):
        response = await call()
        if response.status_code != 503:
            assert response.status_code < 500, response.text
            return response
        assert_unavailable(response)
        await asyncio.sleep(0.25)
    raise AssertionError("still unavailable")
