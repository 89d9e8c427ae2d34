"""The baseline of `bench.api`: a bare Litestar + asyncpg app serving the same page of subscribers.

Served by uvicorn exactly like the real app (`uvicorn bench._bare_app:app`), started by
`bench.api`, never by hand. It does the least a correct handler must: one pooled asyncpg
connection whose `search_path` is fixed to the tenant's schema when the connection opens (so
no per-request `set_config`, no transaction, no tenant or session lookup), the statement the
real route runs (`BENCH_SQL`, captured from the real app by `bench.api`), and the same JSON via
msgspec. Nothing here belongs to the product: no auth, one tenant, configured by environment.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, get
from litestar.params import Parameter

DATABASE_URL = os.environ["BENCH_DATABASE_URL"]
SCHEMA = os.environ["BENCH_SCHEMA"]
SQL = os.environ["BENCH_SQL"]
POOL_MAX = int(os.environ.get("BENCH_POOL_MAX", "10"))


class SubscriberOut(msgspec.Struct):
    """Field for field the real app's `SubscriberOut` (bench.api compares the JSON)."""

    id: str
    name: str
    email: str
    phone: str
    address: str
    latitude: float | None
    longitude: float | None
    language: str | None
    plan_id: str
    site_id: str | None
    access_point_id: str | None
    cpe_mac: str | None
    status: str
    suspension_reason: str | None
    billing_start_date: str | None
    activated_at: str | None
    cancelled_at: str | None
    external_id: str | None
    created_at: str
    updated_at: str


class SubscriberPage(msgspec.Struct):
    items: list[SubscriberOut]
    next_cursor: str | None


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _opt_iso(value: dt.datetime | None) -> str | None:
    return _iso(value) if value is not None else None


def _opt_str(value: object) -> str | None:
    return str(value) if value is not None else None


def _out(row: Any) -> SubscriberOut:
    return SubscriberOut(
        id=str(row["id"]),
        name=row["name"],
        email=row["email"],
        phone=row["phone"],
        address=row["address"],
        latitude=float(row["latitude"]) if row["latitude"] is not None else None,
        longitude=float(row["longitude"]) if row["longitude"] is not None else None,
        language=row["language"],
        plan_id=str(row["plan"]),
        site_id=_opt_str(row["site"]),
        access_point_id=_opt_str(row["access_point"]),
        cpe_mac=row["cpe_mac"],
        status=row["status"],
        suspension_reason=row["suspension_reason"],
        billing_start_date=(
            row["billing_start_date"].isoformat() if row["billing_start_date"] else None
        ),
        activated_at=_opt_iso(row["activated_at"]),
        cancelled_at=_opt_iso(row["cancelled_at"]),
        external_id=row["external_id"],
        created_at=_iso(row["created_at"]),
        updated_at=_iso(row["updated_at"]),
    )


def _cursor(name: str, ident: object) -> str:
    # The app's cursor (app/core/pagination.py), written out: the baseline imports nothing of it.
    raw = json.dumps([name, str(ident)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class _Pool:
    pool: asyncpg.Pool | None = None


async def open_pool() -> None:
    _Pool.pool = await asyncpg.create_pool(
        DATABASE_URL,
        min_size=1,
        max_size=POOL_MAX,
        server_settings={"search_path": f'"{SCHEMA}"', "application_name": "wisp-bench-bare"},
    )


async def close_pool() -> None:
    if _Pool.pool is not None:
        await _Pool.pool.close()


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/api/v1/subscribers")
async def list_subscribers(limit: int = Parameter(default=50, ge=1, le=200)) -> SubscriberPage:
    assert _Pool.pool is not None
    rows = await _Pool.pool.fetch(SQL, limit)
    last = rows[-1] if len(rows) == limit else None
    return SubscriberPage(
        items=[_out(r) for r in rows],
        next_cursor=_cursor(last["name"].lower(), last["id"]) if last else None,
    )


app = Litestar(
    route_handlers=[health, list_subscribers],
    on_startup=[open_pool],
    on_shutdown=[close_pool],
    openapi_config=None,
    logging_config=None,
    debug=False,
)
