"""`Idempotency-Key` for every creating POST: the same key means the same effect, once.

The key is claimed by inserting a row *inside the action's own transaction*: a concurrent
duplicate waits on the primary key until the first commits, then finds the stored answer and
replays it; if the first fails, its claim rolls back with it and a retry runs afresh. The answer
is stored in that same transaction, so a write and its recorded answer can never disagree.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from piccolo.columns import JSONB, Integer, Timestamptz, Varchar
from piccolo.table import Table

from app.core.i18n import _
from app.core.problems import Invalid, Problem

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 200


class IdempotencyRecord(Table, tablename="idempotency_record"):
    key = Varchar(length=300, primary_key=True)
    request_hash = Varchar(length=64)
    status_code = Integer(default=200)
    response = JSONB(null=True, default=None)
    created_at = Timestamptz(index=True)


class KeyReused(Problem):
    status = 422
    slug = "idempotency-key-reused"

    def title(self) -> str:
        return _("Idempotency key already used")


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key, namespaced by who sent it and which route it was sent to."""

    key: str
    request_hash: str

    @classmethod
    def of(
        cls, connection: ASGIConnection[Any, Any, Any, Any], raw: str, fingerprint: str
    ) -> IdempotencyKey:
        """The client's key `raw` for this caller and route; `fingerprint` identifies the
        request's content, so the same key with other content is refused."""
        raw = raw.strip()
        if not raw or len(raw) > MAX_KEY_LENGTH or not raw.isprintable():
            raise Invalid({"Idempotency-Key": _("Use 1 to 200 printable characters.")})
        user = connection.scope.get("user")
        who = getattr(user, "user_id", "anonymous")
        route = f"{connection.scope.get('method')} {connection.scope.get('path')}"
        # Hashed: a long path and key must not be cut to fit, or two could meet.
        scoped = hashlib.sha256(f"{route}|{raw}".encode()).hexdigest()
        return cls(key=f"{who}|{scoped}", request_hash=fingerprint)


async def content_fingerprint(request: Request[Any, Any, Any]) -> str:
    """What the request asks for, independent of how it was framed: a JSON body re-encoded,
    a multipart form by its fields and files' contents (a browser picks a new boundary on
    every retry), anything else byte for byte."""
    digest = hashlib.sha256()
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        for name in sorted(form.keys()):
            for value in form.getall(name):
                content = value.encode() if isinstance(value, str) else await value.read()
                digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
                if not isinstance(value, str):
                    await value.seek(0)
        return digest.hexdigest()
    body = await request.body()
    with contextlib.suppress(msgspec.DecodeError):  # not JSON: the bytes themselves
        body = msgspec.json.encode(msgspec.json.decode(body)) if body else body
    digest.update(body)
    return digest.hexdigest()


async def request_idempotency(request: Request[Any, Any, Any]) -> IdempotencyKey | None:
    """The `idempotency` dependency: the request's `Idempotency-Key`, or None without one."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    return IdempotencyKey.of(request, raw, await content_fingerprint(request))


NOT_USED = object()


async def claim(connection: Any, key: IdempotencyKey) -> Any:
    """Claim the key; returns the stored answer when it was already used, else NOT_USED."""
    inserted = await connection.fetchval(
        "INSERT INTO idempotency_record (key, request_hash, created_at) VALUES ($1, $2, now())"
        " ON CONFLICT (key) DO NOTHING RETURNING 1",
        key.key,
        key.request_hash,
    )
    if inserted:
        return NOT_USED
    row = await connection.fetchrow(
        "SELECT request_hash, response FROM idempotency_record WHERE key = $1", key.key
    )
    if row["request_hash"] != key.request_hash:
        raise KeyReused(_("This Idempotency-Key was already used for a different request."))
    return msgspec.json.decode(row["response"]) if row["response"] is not None else None


async def store(connection: Any, key: IdempotencyKey, answer: object) -> None:
    await connection.execute(
        "UPDATE idempotency_record SET response = $2 WHERE key = $1",
        key.key,
        msgspec.json.encode(answer).decode(),
    )
