"""Gateway protocol speed, on a throwaway database: state answers, telemetry, the closed loop.

Run from the repository root:

    .venv/bin/python -m bench.gateway [--subscribers 10000] [--rounds 30] [--keep]

The database named by DATABASE_URL (default `wisp_bench_gateway` on the local server) is
dropped and recreated at start and dropped at the end; its name must contain "bench". What is
measured, through the real code:

1. full state for N subscribers: `GET /gateway/v1/state` through the whole ASGI app (host
   resolution, secret lookup, tenant scope, site filter, JSON), against a baseline of the same
   rows fetched with one raw asyncpg query on a plain connection;
2. an empty delta (`since` = the current version, no wait), against one raw `SELECT max()`;
3. telemetry ingest: batches of 100 samples from 8 gateways, 4 posting at a time, against a
   raw asyncpg insert of the same rows (samples per second, and per CPU-second of this
   process, which runs the app: the "per core" figure);
4. the closed loop: the web app in its own uvicorn process, the reference agent (dryrun
   driver) here, and suspensions/resumptions made by the real actions; the time from the
   action to the cloud recording the agent's acknowledgement of it (p50, p99).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.tenancy import (
    ROOT,
    bench_database,
    configure_environment,
    recreate_database,
    run_cli_migrate,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/wisp_bench_gateway"
console = Console(file=sys.stdout)
if not console.is_terminal:
    console.width = 110
rows: list[tuple[str, str, str, str, str]] = []


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def add(metric: str, value: str, baseline: str, ratio: str, target: str) -> None:
    rows.append((metric, value, baseline, ratio, target))


async def timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def seed(tenant: Any, subscribers: int) -> None:
    """A plan, N active subscribers and two desired states each (history the query skips)."""
    from tenants.scope import tenant_scope

    now = dt.datetime.now(dt.UTC)
    ids = [uuid.uuid4() for _ in range(subscribers)]
    macs = [
        f"02:{i >> 24 & 255:02x}:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:01"
        for i in range(subscribers)
    ]
    async with tenant_scope(tenant) as scope:
        conn = scope.connection
        plan = uuid.uuid4()
        await conn.execute(
            "INSERT INTO rate_plan (id, name, download_kbps, upload_kbps, monthly_price, currency,"
            " created_at, updated_at) VALUES ($1, 'Bench', 20000, 5000, 15, 'USD', $2, $2)",
            plan,
            now,
        )
        await conn.execute(
            "INSERT INTO subscriber (id, name, email, phone, address, plan, cpe_mac,"
            " cpe_authenticated_at, status, created_at, updated_at) SELECT u.id, 'S ' || u.n,"
            " 's' || u.n || '@bench.example', '', '', $3, u.mac, $4, 'active', $4, $4"
            " FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS u(id, mac, n)",
            ids,
            macs,
            plan,
            now,
        )
        for offset, down in ((0, 10000), (subscribers, 20000)):
            await conn.execute(
                "INSERT INTO netstate_change (id, version, subscriber_id, mac, enabled, reason,"
                " download_kbps, upload_kbps, occurred_at) SELECT gen_random_uuid(), $3 + u.n,"
                " u.id, u.mac, true, NULL, $4, 5000, $5"
                " FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS u(id, mac, n)",
                ids,
                macs,
                offset,
                down,
                now,
            )
        await conn.execute(
            "INSERT INTO netstate_version (id, version) VALUES ($1, $2)",
            uuid.UUID(int=0),
            2 * subscribers,
        )
    async with tenant_scope(tenant) as scope:
        # What autovacuum does soon after a bulk load: without statistics the planner guesses.
        await scope.connection.execute("ANALYZE subscriber, netstate_change")


async def gateways(tenant: Any, count: int) -> list[str]:
    from app.core.audit import SYSTEM
    from app.gateways import actions, enrollment
    from app.gateways.schemas import EnrollIn, GatewayIn

    secrets_out = []
    for i in range(count):
        made = await actions.create_gateway(tenant, GatewayIn(name=f"GW {i}"), SYSTEM, None)
        assert made.enrollment_token
        done = await enrollment.enroll(EnrollIn(token=made.enrollment_token), None, "127.0.0.1")
        secrets_out.append(done.secret)
    return secrets_out


async def measure_state(client: Any, raw: Any, tenant: Any, subscribers: int) -> int:
    full = (await client.get("/gateway/v1/state")).json()
    assert full["full"]
    assert len(full["subscribers"]) == subscribers, len(full["subscribers"])
    version = full["version"]
    query = (
        "SELECT DISTINCT ON (subscriber_id) version, subscriber_id, mac, enabled, reason,"
        " download_kbps, upload_kbps, occurred_at FROM netstate_change"
        " WHERE version > 0 AND version <= $1 ORDER BY subscriber_id, version DESC"
    )
    await raw.execute(f'SET search_path = "{tenant.schema}"')
    api = await timed(lambda: client.get("/gateway/v1/state"), 15)
    base = await timed(lambda: raw.fetch(query, version), 15)
    add(
        f"full state, {subscribers:,} subscribers (median, p90)",
        f"{ms(statistics.median(api))}, {ms(pct(api, 0.9))}",
        ms(statistics.median(base)),
        f"{statistics.median(api) / statistics.median(base):.1f}x",
        "< 200 ms " + ("PASS" if statistics.median(api) < 0.2 else "FAIL"),
    )
    params = {"since": version}
    api = await timed(lambda: client.get("/gateway/v1/state", params=params), 300)
    base = await timed(
        lambda: raw.fetchval("SELECT coalesce(max(version), 0) FROM netstate_change"), 300
    )
    add(
        "empty delta (median, p99)",
        f"{ms(statistics.median(api))}, {ms(pct(api, 0.99))}",
        ms(statistics.median(base)),
        f"{statistics.median(api) / statistics.median(base):.1f}x",
        "< 10 ms " + ("PASS" if statistics.median(api) < 0.01 else "FAIL"),
    )
    return int(version)


async def measure_telemetry(app: Any, raw: Any, secrets_in: list[str], batches: int) -> None:
    from tests.conftest import http

    def batch(seq0: int, at: dt.datetime) -> dict[str, Any]:
        return {
            "samples": [
                {
                    "seq": seq0 + i,
                    "ts": (at + dt.timedelta(seconds=i)).isoformat(),
                    "wan_rx_bytes": (seq0 + i) * 1_000_000,
                    "wan_tx_bytes": (seq0 + i) * 100_000,
                    "users_authenticated": 100,
                    "users_connected": 80,
                    "cpu_percent": 20.0,
                    "mem_percent": 50.0,
                }
                for i in range(100)
            ]
        }

    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    semaphore = asyncio.Semaphore(4)

    async def one_gateway(secret: str) -> None:
        async with http(app) as client:
            client.headers["Authorization"] = f"Bearer {secret}"
            for b in range(batches):
                async with semaphore:
                    r = await client.post(
                        "/gateway/v1/telemetry",
                        json=batch(1 + b * 100, start + dt.timedelta(minutes=b * 2)),
                    )
                assert r.status_code == 200, r.text
                assert r.json()["accepted"] == 100, r.text

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one_gateway(s) for s in secrets_in))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = len(secrets_in) * batches * 100
    gid = uuid.uuid4()
    base_started = time.perf_counter()
    for b in range(len(secrets_in) * batches):
        n = 100
        await raw.execute(
            "INSERT INTO gateway_sample (id, gateway, seq, ts, interval_s, rx_bytes, tx_bytes,"
            " rx_bps, tx_bps, users_authenticated, users_connected, cpu_percent, mem_percent,"
            " gap_before, counter_reset) SELECT gen_random_uuid(), $1, s, now(), 1, 1000000,"
            " 100000, 8000000, 800000, 100, 80, 20, 50, 0, false"
            " FROM generate_series($2::bigint, $3::bigint) s",
            gid,
            b * n + 1,
            b * n + n,
        )
    base = time.perf_counter() - base_started
    add(
        f"telemetry ingest, {total:,} samples (per s, per CPU-s of the app)",
        f"{total / wall:,.0f}/s, {total / cpu:,.0f}/CPU-s",
        f"{total / base:,.0f}/s",
        f"{base / wall:.2f}x of raw",
        ">= 5,000/s per core " + ("PASS" if total / cpu >= 5000 else "FAIL"),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measure_loop(tenant: Any, raw: Any, secret_dir: Path, rounds: int) -> None:
    from wisp_gateway.agent import Agent
    from wisp_gateway.config import load

    from app.core.audit import SYSTEM
    from app.gateways import actions
    from app.gateways.schemas import GatewayIn
    from app.subscribers import status

    port = free_port()
    argv = ["-m", "uvicorn", "app.asgi:app", "--port", str(port), "--log-level", "warning"]
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        "--timeout-graceful-shutdown",
        "5",
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    made = await actions.create_gateway(tenant, GatewayIn(name="loop"), SYSTEM, None)
    gateway_id = uuid.UUID(made.id)
    env = {
        "WISP_GATEWAY_CLOUD_URL": f"http://localhost:{port}",
        "WISP_GATEWAY_STATE_DIR": str(secret_dir),
        "WISP_GATEWAY_ENROLLMENT_TOKEN": made.enrollment_token or "",
        "WISP_GATEWAY_DRIVER": "dryrun",
        "WISP_GATEWAY_WAN_INTERFACE": "lo",
        "WISP_GATEWAY_TELEMETRY_INTERVAL": "3600",
        "WISP_GATEWAY_BACKOFF_MAX": "1",
        "WISP_GATEWAY_LOG_LEVEL": "WARNING",
    }
    import logging

    logging.getLogger("wisp_gateway").setLevel(logging.WARNING)
    agent = Agent(load(None, env))
    running = asyncio.create_task(agent.run())

    async def acked(version: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            applied = await raw.fetchval(
                "SELECT applied_version FROM gateway WHERE id = $1", gateway_id
            )
            if applied >= version:
                return
            await asyncio.sleep(0.005)
        raise RuntimeError("no acknowledgement within 60 s")

    try:
        current = await raw.fetchval("SELECT max(version) FROM netstate_change")
        await acked(current)  # the first full state
        ids = [r["id"] for r in await raw.fetch("SELECT id FROM subscriber LIMIT $1", rounds)]
        times = []
        for i, sid in enumerate(ids):
            started = time.perf_counter()
            row = await status.suspend(tenant, sid, "non_payment", SYSTEM)
            version = await raw.fetchval(
                "SELECT max(version) FROM netstate_change WHERE subscriber_id = $1", row["id"]
            )
            await acked(version)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            await status.resume(tenant, sid, SYSTEM)
            version = await raw.fetchval(
                "SELECT max(version) FROM netstate_change WHERE subscriber_id = $1", row["id"]
            )
            await acked(version)
            times.append(time.perf_counter() - started)
            del i
        add(
            f"suspend/resume to the agent's ack, {len(times)} changes (p50, p99)",
            f"{ms(statistics.median(times))}, {ms(pct(times, 0.99))}",
            "",
            "",
            "p99 < 10 s " + ("PASS" if pct(times, 0.99) < 10 else "FAIL"),
        )
    finally:
        agent.stop.set()
        await asyncio.wait_for(running, 30)
        server.terminate()
        await asyncio.wait_for(server.wait(), 15)


async def measure(args: argparse.Namespace, database_url: str) -> None:
    from app.core.audit import SYSTEM
    from app.core.db import close_pool, open_pool
    from app.core.redis import close_redis
    from app.signup.actions import sign_up
    from app.signup.schemas import SignupIn
    from app.web.app import create_app
    from tenants.registry import tenant_by_slug
    from tests.conftest import http

    app = create_app()
    await open_pool()
    raw = await asyncpg.connect(database_url)
    try:
        slug = f"bench-{secrets.token_hex(3)}"
        signup = SignupIn(
            company_name="Bench WISP",
            slug=slug,
            email=f"owner@{slug}.example.com",
            password="correct horse battery staple",
        )
        await sign_up(signup, SYSTEM, by_operator=True)  # confirmed: it enrolls gateways
        tenant = await tenant_by_slug(slug)
        assert tenant is not None
        with console.status(f"seeding {args.subscribers:,} subscribers"):
            await seed(tenant, args.subscribers)
            keys = await gateways(tenant, 8)
        with console.status("state answers"):
            async with http(app) as client:
                client.headers["Authorization"] = f"Bearer {keys[0]}"
                await measure_state(client, raw, tenant, args.subscribers)
        with console.status("telemetry"):
            await measure_telemetry(app, raw, keys, args.batches)
        with console.status(f"closed loop, {args.rounds} suspensions and resumptions"):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                await measure_loop(tenant, raw, Path(tmp), args.rounds)
    finally:
        await raw.close()
        await close_pool()
        await close_redis()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30, help="suspensions (each then resumed)")
    parser.add_argument("--batches", type=int, default=50, help="telemetry batches per gateway")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name, admin_url = bench_database(database_url)
    configure_environment(database_url)
    os.environ["LOG_LEVEL"] = "WARNING"  # one log line per request would be measured too
    started = time.perf_counter()
    asyncio.run(recreate_database(admin_url, name, create=True))
    try:
        run_cli_migrate()
        asyncio.run(measure(args, database_url))
    finally:
        if not args.keep:
            asyncio.run(recreate_database(admin_url, name, create=False))
    table = Table(title="Gateway protocol (ratios against the raw query measured in this run)")
    for column in ("measure", "value", "baseline", "ratio", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"whole run {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
