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
import uuid
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, get, post
from litestar.exceptions import HTTPException, NotFoundException
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


# The mixed workload (bench.mixed): a detail, a create and two transitions, each writing the
# rows the real action writes, in one transaction, and answering the same JSON. What the real
# app does besides (session, CSRF, validation, idempotency, the after-commit Redis messages:
# the portal invitation job and the gateways' wake-up) is left out, as for the page above.


class SubscriberIn(msgspec.Struct):
    name: str
    email: str
    plan_id: str
    phone: str = ""
    address: str = ""


class SubscriberCreatedOut(SubscriberOut):
    installation_work_order_id: str


class SuspendIn(msgspec.Struct):
    reason: str


def _pool() -> asyncpg.Pool:
    assert _Pool.pool is not None
    return _Pool.pool


async def _audit(conn: Any, action: str, object_type: str, object_id: object, now: Any) -> None:
    await conn.execute(
        "INSERT INTO audit_event (id, occurred_at, actor_type, actor_label, action, object_type,"
        " object_id, data, ip, request_id) VALUES ($1, $2, 'staff', 'bench', $3, $4, $5, '{}',"
        " '', '')",
        uuid.uuid4(), now, action, object_type, str(object_id),
    )  # fmt: skip


async def _history(conn: Any, sid: uuid.UUID, old: str | None, new: str, now: Any) -> None:
    await conn.execute(
        "INSERT INTO subscriber_status_change (id, subscriber, from_status, to_status, note,"
        " actor_type, actor_label, occurred_at, recorded_at) VALUES ($1, $2, $3, $4, '',"
        " 'staff', 'bench', $5, $5)",
        uuid.uuid4(), sid, old, new, now,
    )  # fmt: skip


@get("/api/v1/subscribers/{subscriber_id:uuid}")
async def one_subscriber(subscriber_id: uuid.UUID) -> SubscriberOut:
    row = await _pool().fetchrow("SELECT * FROM subscriber WHERE id = $1", subscriber_id)
    if row is None:
        raise NotFoundException()
    return _out(row)


@post("/api/v1/subscribers", status_code=201)
async def create_subscriber(data: SubscriberIn) -> SubscriberCreatedOut:
    sid, wid, now = uuid.uuid4(), uuid.uuid4(), dt.datetime.now(dt.UTC)
    async with _pool().acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO subscriber (id, name, email, phone, address, plan, status, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending_installation', $7, $7)"
            " RETURNING *",
            sid, data.name, data.email, data.phone, data.address, uuid.UUID(data.plan_id), now,
        )  # fmt: skip
        await _history(conn, sid, None, "pending_installation", now)
        await conn.execute(
            "INSERT INTO subscriber_account (id, subscriber, created_at) VALUES ($1, $2, $3)",
            uuid.uuid4(), sid, now,
        )  # fmt: skip
        await _audit(conn, "subscriber.create", "subscriber", sid, now)
        await conn.execute(
            "INSERT INTO work_order (id, subscriber, kind, status, description, signed_by,"
            " cancel_reason, created_at, updated_at) VALUES ($1, $2, 'installation', 'open', '',"
            " '', '', $3, $3)",
            wid, sid, now,
        )  # fmt: skip
        await _audit(conn, "work_order.create", "work_order", wid, now)
    fields = msgspec.structs.asdict(_out(row))
    return SubscriberCreatedOut(**fields, installation_work_order_id=str(wid))


_NEXT_VERSION = (
    "INSERT INTO netstate_version (id, version) VALUES ($1, 1)"
    " ON CONFLICT (id) DO UPDATE SET version = netstate_version.version + 1 RETURNING version"
)


async def _transition(sid: uuid.UUID, before: str, after: str, reason: str | None) -> Any:
    now = dt.datetime.now(dt.UTC)
    async with _pool().acquire() as conn, conn.transaction():
        current = await conn.fetchval("SELECT status FROM subscriber WHERE id = $1 FOR UPDATE", sid)
        if current is None:
            raise NotFoundException()
        if current != before:
            raise HTTPException(status_code=409, detail="wrong status")
        row = await conn.fetchrow(
            "UPDATE subscriber SET status = $2, suspension_reason = $3, updated_at = $4"
            " WHERE id = $1 RETURNING *",
            sid, after, reason, now,
        )  # fmt: skip
        await _history(conn, sid, before, after, now)
        plan = await conn.fetchrow(
            "SELECT download_kbps, upload_kbps FROM rate_plan WHERE id = $1", row["plan"]
        )
        version = await conn.fetchval(_NEXT_VERSION, uuid.UUID(int=0))
        await conn.execute(
            "INSERT INTO netstate_change (id, version, subscriber_id, mac, enabled, reason,"
            " download_kbps, upload_kbps, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            uuid.uuid4(), version, sid, row["cpe_mac"], after == "active", reason,
            plan["download_kbps"], plan["upload_kbps"], now,
        )  # fmt: skip
        await _audit(conn, f"subscriber.{'resume' if after == 'active' else 'suspend'}",
                     "subscriber", sid, now)  # fmt: skip
    return row


@post("/api/v1/subscribers/{subscriber_id:uuid}/suspend", status_code=200)
async def suspend(subscriber_id: uuid.UUID, data: SuspendIn) -> SubscriberOut:
    return _out(await _transition(subscriber_id, "active", "suspended", data.reason))


@post("/api/v1/subscribers/{subscriber_id:uuid}/resume", status_code=200)
async def resume(subscriber_id: uuid.UUID) -> SubscriberOut:
    return _out(await _transition(subscriber_id, "suspended", "active", None))


app = Litestar(
    route_handlers=[health, list_subscribers, one_subscriber, create_subscriber, suspend, resume],
    on_startup=[open_pool],
    on_shutdown=[close_pool],
    openapi_config=None,
    logging_config=None,
    debug=False,
)
