"""How fast the billing run invoices many tenants, against bulk-inserting the same rows.

Run from the repository root:

    .venv/bin/python -m bench.billing [--tenants 100] [--subscribers 1000] [--quick] [--keep]
                                      [--concurrency 4] [--profile-tenants 5]

The database named by DATABASE_URL (default `wisp_bench_billing` on the local server) is dropped
and recreated at start and dropped at the end; its name must contain "bench". The invoice-email
jobs the engine enqueues after each commit go to the Redis namespace `wisp-bench-billing`, whose
keys are deleted at start and at the end. Everything timed runs through the real code:
`app.billing.engine.run` per tenant, on the app's pool, with real PostgreSQL and Redis.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import inspect
import io
import json
import os
import pstats
import random
import re
import secrets
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import ModuleType
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bench.tenancy import Stats, bench_database, recreate_database, run_cli_migrate

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/wisp_bench_billing"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
QUEUE_NAMESPACE = "wisp-bench-billing"
RATIO_TARGET = 3.0
# Cloning a schema is mostly server round trips; 8 at a time is ~4x faster here on 2 cores.
SETUP_CONCURRENCY = 8

AS_OF = dt.date(2026, 3, 31)
# Billing starts fall in (AS_OF - 1 month, AS_OF]: every subscriber has exactly one period that
# has started by AS_OF (its first, a full one), so the run must create exactly N x M invoices.
FIRST_START = dt.date(2026, 3, 1)
DEFAULT_TAX = Decimal("16.0000")
PREFIX = "INV"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class PlanSpec:
    name: str
    kbps: tuple[int, int]
    price: Decimal
    setup_fee: Decimal | None
    tax_rate: Decimal | None
    weight: int


PLANS = (
    PlanSpec("Basic 10/2", (10_000, 2_000), Decimal("25.0000"), None, None, 5),
    PlanSpec("Plus 25/5", (25_000, 5_000), Decimal("39.9000"), Decimal("50.0000"), None, 3),
    PlanSpec("Pro 50/10", (50_000, 10_000), Decimal("59.0000"), None, Decimal("8.0000"), 2),
)
NAMES = ("Ana Pérez", "José Gómez", "María López", "Luis Díaz", "Carmen Ruiz", "Pedro Soto")
ZONES = ("America/Mexico_City", "America/Bogota", "America/New_York", "UTC")

INVOICE_COLUMNS = [
    "id", "kind", "subscriber_id", "period_start", "period_end", "series", "year", "number",
    "number_text", "issue_date", "due_date", "currency", "language", "subtotal", "tax_total",
    "total", "amount_paid", "status", "bill_to", "issuer_id", "created_at",
]  # fmt: skip
LINE_COLUMNS = [
    "id", "invoice", "position", "kind", "description", "quantity", "unit_price", "amount",
    "tax_rate", "tax_amount",
]  # fmt: skip
SUBSCRIBER_COLUMNS = [
    "id", "name", "email", "phone", "address", "language", "plan", "cpe_mac",
    "cpe_authenticated_at", "status", "billing_start_date", "activated_at", "created_at",
    "updated_at",
]  # fmt: skip

console = Console(file=sys.stdout)
if not console.is_terminal:
    console.width = 120


# Fixtures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sub:
    id: uuid.UUID
    name: str
    email: str
    address: str
    language: str
    plan: int
    start: dt.date


@dataclass
class Fixture:
    tenant: Any  # TenantRef
    plan_ids: list[uuid.UUID]
    subs: list[Sub]

    def expected(self) -> tuple[int, Decimal]:
        """Invoice lines and the sum of totals the run must produce, computed independently."""
        lines, total = 0, Decimal(0)
        for s in self.subs:
            for amount, rate in charges(PLANS[s.plan]):
                lines += 1
                total += amount + round_cents(amount * rate / 100)
        return lines, total


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def charges(plan: PlanSpec) -> list[tuple[Decimal, Decimal]]:
    """(amount, tax rate) of each line of a first, full-period invoice."""
    rate = plan.tax_rate if plan.tax_rate is not None else DEFAULT_TAX
    out = [(round_cents(plan.price), rate)]
    if plan.setup_fee:
        out.append((round_cents(plan.setup_fee), rate))
    return out


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def create_tenant(conn: Any, index: int, subscribers: int, rng: random.Random) -> Fixture:
    """Registry row, cloned schema, settings, plans and subscribers: one transaction, untimed."""
    from tenants.provision import create_schema
    from tenants.registry import TenantRef, schema_for

    tenant_id = uuid.uuid4()
    language = "es" if index % 2 else "en"
    row = {
        "id": tenant_id,
        "slug": f"bench-billing-{index:04d}",
        "name": f"Bench WISP {index:04d}",
        "schema_name": schema_for(tenant_id),
        "status": "active",
        "language": language,
        "currency": "USD",
        "timezone": ZONES[index % len(ZONES)],
    }
    tenant = TenantRef.from_row(row)
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO public.tenant (id, slug, name, schema_name, status, language, currency,"
            " timezone, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *row.values(),
            now,
        )
        await create_schema(conn, tenant.schema)  # leaves search_path on the new schema
        await conn.execute(
            "INSERT INTO billing_settings (id, singleton, tax_rate, legal_name, updated_at)"
            " VALUES (gen_random_uuid(), true, $1, $2, $3)",
            DEFAULT_TAX,
            tenant.name,
            now,
        )
        plan_ids = [uuid.uuid4() for _ in PLANS]
        await conn.executemany(
            "INSERT INTO rate_plan (id, name, download_kbps, upload_kbps, monthly_price,"
            " setup_fee, tax_rate, currency, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'USD', $8, $8)",
            [
                (pid, p.name, *p.kbps, p.price, p.setup_fee, p.tax_rate, now)
                for pid, p in zip(plan_ids, PLANS, strict=True)
            ],
        )
        window = (AS_OF - FIRST_START).days + 1
        weights = [p.weight for p in PLANS]
        subs = []
        for i in range(subscribers):
            lang = rng.choices(["", "es", "en"], [7, 2, 1])[0]
            subs.append(
                Sub(
                    id=uuid.uuid4(),
                    name=f"{NAMES[i % len(NAMES)]} {i:05d}",
                    email=f"s{i:05d}@t{index:04d}.example.net",
                    address=f"Calle {i % 97 + 1} #{i}, Colonia Centro",
                    language=lang,
                    plan=rng.choices(range(len(PLANS)), weights)[0],
                    start=FIRST_START + dt.timedelta(days=rng.randrange(window)),
                )
            )
        await conn.copy_records_to_table(
            "subscriber",
            schema_name=tenant.schema,
            columns=SUBSCRIBER_COLUMNS,
            records=[
                (
                    s.id,
                    s.name,
                    s.email,
                    "",
                    s.address,
                    s.language or None,
                    plan_ids[s.plan],
                    "02:" + ":".join(f"{b:02x}" for b in s.id.bytes[:5]),
                    now,
                    "active",
                    s.start,
                    dt.datetime.combine(s.start, dt.time(15), dt.UTC),
                    now,
                    now,
                )
                for s in subs
            ],
        )
    return Fixture(tenant, plan_ids, subs)


def baseline_records(fx: Fixture) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows the run writes for this tenant, with their final numbers, built untimed."""
    from app.billing.periods import add_months

    invoices, lines = [], []
    now = dt.datetime.now(dt.UTC)
    due = AS_OF + dt.timedelta(days=15)
    issuer_id = uuid.uuid4()  # the run's one seller snapshot, which every invoice names
    for n, s in enumerate(sorted(fx.subs, key=lambda s: s.id), start=1):
        plan = PLANS[s.plan]
        invoice_id = uuid.uuid4()
        end = add_months(s.start, 1, s.start.day)
        subtotal = tax = Decimal(0)
        for position, (amount, rate) in enumerate(charges(plan)):
            line_tax = round_cents(amount * rate / 100)
            subtotal, tax = subtotal + amount, tax + line_tax
            kind, text = ("plan", f"{plan.name} — {s.start:%b %-d, %Y} to {end:%b %-d, %Y}")
            if position:
                kind, text = ("setup", "Installation and setup fee")
            lines.append(
                (
                    uuid.uuid4(),
                    invoice_id,
                    position,
                    kind,
                    text,
                    Decimal(1),
                    amount,
                    amount,
                    rate,
                    line_tax,
                )
            )
        invoices.append(
            (
                invoice_id,
                "invoice",
                s.id,
                s.start,
                end,
                PREFIX,
                AS_OF.year,
                n,
                f"{PREFIX}-{AS_OF.year}-{n:06d}",
                AS_OF,
                due,
                "USD",
                s.language or fx.tenant.language,
                subtotal,
                tax,
                subtotal + tax,
                Decimal(0),
                "open",
                f"{s.name}\n{s.address}\n{s.email}",
                issuer_id,
                now,
            )
        )
    return invoices, lines


# Timed work -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    wall: float = 0.0
    invoices: int = 0
    per_tenant: tuple[float, ...] = (0.0,)
    cpu: float = 0.0
    """This process's CPU time: the client's share of the wall time (asyncpg, the engine)."""


async def bounded(
    items: Sequence[Any], work: Callable[[Any], Awaitable[Any]], concurrency: int
) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with semaphore:
            return await work(item)

    return await asyncio.gather(*(one(i) for i in items))


Records = dict[str, tuple[list[Any], list[Any]]]


async def copy_tenant(pool: Any, fx: Fixture, records: Records) -> float:
    """The floor: one transaction with two COPYs (invoices, then their lines)."""
    invoices, lines = records[fx.tenant.schema]
    started = time.perf_counter()
    async with pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table(
            "invoice", schema_name=fx.tenant.schema, columns=INVOICE_COLUMNS, records=invoices
        )
        await conn.copy_records_to_table(
            "invoice_line", schema_name=fx.tenant.schema, columns=LINE_COLUMNS, records=lines
        )
    return time.perf_counter() - started


async def bill_tenant(fx: Fixture) -> tuple[float, int]:
    """`engine.run` for AS_OF, as a worker calls it; returns its time and the invoices made."""
    from app.billing import engine
    from app.core.audit import SYSTEM

    started = time.perf_counter()
    report = await engine.run(fx.tenant, AS_OF, SYSTEM)
    elapsed = time.perf_counter() - started
    if report.suspended or report.reactivated or report.halted_reason:
        raise RuntimeError(f"{fx.tenant.slug}: the run suspended or reactivated someone")
    return elapsed, len(report.invoiced)


async def paired_pass(
    pool: Any, fixtures: Sequence[Fixture], records: Records, progress: Progress
) -> tuple[Measured, Measured]:
    """Tenant by tenant: COPY its rows, check them, empty its tables again, bill it.

    The load on a shared machine drifts by 2x within minutes; measured back to back on the
    same tenant, the COPY and the run see the same load, so their ratio is stable.
    """
    task = progress.add_task("COPY, then engine.run, per tenant", total=len(fixtures))
    copies: list[float] = []
    runs: list[float] = []
    copy_cpu = run_cpu = 0.0
    created = 0
    for fx in fixtures:
        cpu = time.process_time()
        copies.append(await copy_tenant(pool, fx, records))
        copy_cpu += time.process_time() - cpu
        await check_invoiced(pool, [fx])
        await reset_billing(pool, [fx])
        cpu = time.process_time()
        seconds, invoices = await bill_tenant(fx)
        run_cpu += time.process_time() - cpu
        runs.append(seconds)
        created += invoices
        progress.advance(task)
    copied = sum(len(records[fx.tenant.schema][0]) for fx in fixtures)
    return (
        Measured(sum(copies), copied, tuple(copies), copy_cpu),
        Measured(sum(runs), created, tuple(runs), run_cpu),
    )


async def baseline_copy(
    pool: Any,
    fixtures: Sequence[Fixture],
    records: Records,
    concurrency: int,
    progress: Progress,
    label: str,
) -> Measured:
    task = progress.add_task(label, total=len(fixtures))
    per_tenant: list[float] = []

    async def one(fx: Fixture) -> None:
        per_tenant.append(await copy_tenant(pool, fx, records))
        progress.advance(task)

    started, cpu = time.perf_counter(), time.process_time()
    await bounded(fixtures, one, concurrency)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    invoices = sum(len(records[fx.tenant.schema][0]) for fx in fixtures)
    return Measured(wall, invoices, tuple(per_tenant), cpu)


async def billing_runs(
    fixtures: Sequence[Fixture], concurrency: int, progress: Progress, label: str
) -> Measured:
    """`engine.run` over every tenant, `concurrency` tenants at a time."""
    task = progress.add_task(label, total=len(fixtures))
    per_tenant: list[float] = []

    async def one(fx: Fixture) -> int:
        seconds, invoices = await bill_tenant(fx)
        per_tenant.append(seconds)
        progress.advance(task)
        return invoices

    started, cpu = time.perf_counter(), time.process_time()
    created = await bounded(fixtures, one, concurrency)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Measured(wall, sum(created), tuple(per_tenant), cpu)


# Checks and resets (untimed) --------------------------------------------------------------------


# Seconds spent outside the measurements, per kind of work, for the footer of the report.
UNTIMED: dict[str, float] = defaultdict(float)


@contextmanager
def untimed(kind: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        UNTIMED[kind] += time.perf_counter() - started


async def check_invoiced(pool: Any, fixtures: Sequence[Fixture]) -> None:
    """Every subscriber has one invoice numbered gaplessly 1..M, the lines and totals expected."""
    with untimed("checks"):
        await _check_invoiced(pool, fixtures)


async def _check_invoiced(pool: Any, fixtures: Sequence[Fixture]) -> None:
    async with pool.acquire() as conn:
        for fx in fixtures:
            s = quote(fx.tenant.schema)
            row = await conn.fetchrow(
                "SELECT count(*) AS n, count(DISTINCT subscriber_id) AS subs,"
                " count(DISTINCT number) AS numbers, min(number) AS lo, max(number) AS hi,"
                " coalesce(sum(total), 0) AS total,"
                " count(*) FILTER (WHERE total <> subtotal + tax_total) AS bad_sums,"
                f" (SELECT count(*) FROM {s}.invoice_line) AS lines FROM {s}.invoice"
            )
            m = len(fx.subs)
            lines, total = fx.expected()
            got = (row["n"], row["subs"], row["numbers"], row["lo"], row["hi"], row["lines"])
            want = (m, m, m, 1, m, lines)
            if got != want or row["total"] != total or row["bad_sums"]:
                raise RuntimeError(
                    f"{fx.tenant.slug}: (invoices, subscribers, numbers, min, max, lines) = {got},"
                    f" expected {want}; total {row['total']} vs {total}; {row['bad_sums']} bad sums"
                )


async def reset_billing(pool: Any, fixtures: Sequence[Fixture]) -> None:
    """Fresh, empty billing tables (TRUNCATE gives new files and indexes, as on day one)."""
    with untimed("resets"):
        await _reset_billing(pool, fixtures)


async def _reset_billing(pool: Any, fixtures: Sequence[Fixture]) -> None:
    tables = ("invoice", "invoice_line", "payment_allocation", "number_counter", "billing_run")

    async def batch(start: int) -> None:
        names = [
            f"{quote(fx.tenant.schema)}.{table}"
            for fx in fixtures[start : start + 10]
            for table in tables
        ]
        await pool.execute(f"TRUNCATE {', '.join(names)}")

    # 10 tenants per statement, 4 statements at a time: each commit waits on the disk.
    await bounded(range(0, len(fixtures), 10), batch, 4)


def queued_invoice_ids(redis_url: str) -> tuple[int, list[str]]:
    """Messages waiting in our namespace and the invoice ids their email_invoices jobs carry."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        messages, ids = 0, []
        for key in client.scan_iter(match=f"{QUEUE_NAMESPACE}:*.msgs", count=500):
            for payload in client.hvals(key):
                message = json.loads(payload)
                messages += 1
                if message["actor_name"].endswith("email_invoices"):
                    ids.extend(message["args"][1])
        return messages, ids
    finally:
        client.close()


def delete_queue_keys(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{QUEUE_NAMESPACE}:*", count=500))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def check_announced(redis_url: str, expected: int, results: Results) -> None:
    messages, ids = queued_invoice_ids(redis_url)
    results.messages.append(messages)
    if len(ids) != expected or len(set(ids)) != expected:
        raise RuntimeError(
            f"{len(ids)} invoice ids ({len(set(ids))} distinct) were queued for email,"
            f" {expected} invoices were created"
        )
    delete_queue_keys(redis_url)


# Where the run's time goes ----------------------------------------------------------------------


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, label: str, wall: float, cpu: float) -> None:
        self.seconds[label] += wall
        self.cpu[label] += cpu
        self.calls[label] += 1


@contextmanager
def timed_function(module: ModuleType, name: str, label: str, timings: Timings) -> Iterator[None]:
    """Time every call of `module.name`, wall and this thread's CPU, for the block only.

    On a shared 2-core machine the wall time of a Python phase includes waiting for a core;
    the CPU time does not, so the two together tell slow code from a busy machine.
    """
    original = getattr(module, name)
    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(original):

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                timings.add(label, time.perf_counter() - wall, time.thread_time() - cpu)

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                timings.add(label, time.perf_counter() - wall, time.thread_time() - cpu)

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


SQL_SHAPES = (
    (re.compile(r"^SELECT set_config\('search_path'"), "SELECT set_config(search_path)"),
    (re.compile(r"^(BEGIN|COMMIT|ROLLBACK)\b", re.I), "{0}"),
    (re.compile(r"^SELECT pg_advisory_unlock_all\(\)"), "RESET (pool release)"),
    (re.compile(r'^(INSERT INTO|UPDATE|DELETE FROM) "?(\w+)"?'), "{0} {1}"),
    # The start of the select list tells apart the statements that read the same table.
    (re.compile(r'^SELECT (.*?) FROM "?(\w+)"?'), "SELECT {0} FROM {1}"),
)


def sql_label(method: str, query: str) -> str:
    if method == "copy_records_to_table":
        return f"COPY {query}"
    text = " ".join(query.split())
    for pattern, label in SQL_SHAPES:
        match = pattern.search(text)
        if match:
            parts = [g if len(g) <= 20 else g[:19] + "…" for g in match.groups()]
            return label.format(*parts)
    return text[:40]


@contextmanager
def timed_sql(timings: Timings) -> Iterator[None]:
    """Time every statement on every asyncpg connection (the pool's proxies call the class)."""
    from asyncpg.connection import Connection

    originals: dict[str, Any] = {}
    methods = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table")
    for method in methods:
        original = originals[method] = getattr(Connection, method)

        async def wrapper(
            self: Any, query: str, *args: Any, _m: str = method, _o: Any = original, **kw: Any
        ) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return await _o(self, query, *args, **kw)
            finally:
                label = sql_label(_m, query)
                timings.add(label, time.perf_counter() - wall, time.thread_time() - cpu)

        setattr(Connection, method, wrapper)
    try:
        yield
    finally:
        for method, original in originals.items():
            setattr(Connection, method, original)


def phase_targets() -> list[tuple[ModuleType, str, str, int]]:
    """(module, name, label, depth): the engine looks each name up in that module per call."""
    import app.billing.compose
    import app.billing.engine as engine
    import app.billing.issuing
    import app.billing.settings
    import app.billing.snapshots
    import app.core.audit

    return [
        (engine, "run", "engine.run (whole)", 0),
        (app.billing.snapshots, "freeze", "snapshots.freeze (once per run)", 1),
        (engine, "_invoice_chunk", "_invoice_chunk (one transaction per 500)", 1),
        (app.billing.settings, "load", "settings.load", 2),
        (engine, "_plans", "_plans", 2),
        (engine, "_billables", "_billables", 2),
        (engine, "_last_invoiced", "_last_invoiced", 2),
        (engine, "periods_starting_by", "periods_starting_by", 2),
        (app.billing.compose, "lines_for", "compose.lines_for", 2),
        (app.billing.compose, "totals", "compose.totals", 2),
        (app.billing.issuing, "lock_series", "issuing.lock_series", 2),
        (app.billing.issuing, "copy_lines", "issuing.copy_lines", 2),
        (engine, "allocate", "allocate", 2),
        (app.core.audit, "record", "audit.record", 2),
        (engine, "_announce", "_announce (after commit, Redis)", 2),
        (engine, "_suspensions", "_suspensions", 1),
    ]


@dataclass
class Pass:
    """One instrumented pass: seconds and calls per phase and per SQL statement shape."""

    wall: float = 0.0
    invoices: int = 0
    phases: Timings = field(default_factory=Timings)
    sql: Timings = field(default_factory=Timings)

    @property
    def run_total(self) -> float:
        return self.phases.seconds["engine.run (whole)"]


async def instrumented(fixtures: Sequence[Fixture], progress: Progress, label: str) -> Pass:
    out = Pass()
    with ExitStack() as stack:
        for module, name, phase, _depth in phase_targets():
            stack.enter_context(timed_function(module, name, phase, out.phases))
        stack.enter_context(timed_sql(out.sql))
        measured = await billing_runs(fixtures, 1, progress, label)
    out.wall, out.invoices = measured.wall, measured.invoices
    return out


async def profiled_pass(fixtures: Sequence[Fixture], progress: Progress, results: Results) -> None:
    """Sequential runs over a sample with every phase and statement timed, then the same date
    again, then the first run once more under cProfile. A separate pass, so the headline numbers
    carry no instrumentation."""
    results.first = await instrumented(fixtures, progress, "profile: run, phases timed")
    await check_invoiced(results.pool, fixtures)
    results.again = await instrumented(fixtures, progress, "profile: re-run, phases timed")
    await reset_billing(results.pool, fixtures)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        results.cprofile_wall = (
            await billing_runs(fixtures, 1, progress, "profile: cProfile")
        ).wall
    finally:
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    results.cprofile_text = out.getvalue()


# Orchestration ----------------------------------------------------------------------------------


@dataclass
class Results:
    tenants: int = 0
    subscribers: int = 0
    setup_s: float = 0.0
    records_s: float = 0.0
    base_seq: Measured = Measured()
    base_conc: Measured = Measured()
    run_seq: Measured = Measured()
    run_conc: Measured = Measured()
    rerun: Measured = Measured()
    messages: list[int] = field(default_factory=list)
    first: Pass = field(default_factory=Pass)
    again: Pass = field(default_factory=Pass)
    sample: list[Fixture] = field(default_factory=list)
    cprofile_text: str = ""
    cprofile_wall: float = 0.0
    pool: Any = None


def new_progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<38}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def create_tenants(database_url: str, n: int, m: int, progress: Progress) -> list[Fixture]:
    """Untimed setup on its own pool, closed at the end: the server's connections are shared."""
    task = progress.add_task(f"setup: {n} tenants × {m} subscribers", total=n)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=SETUP_CONCURRENCY) as pool:

        async def setup(index: int) -> Fixture:
            async with pool.acquire() as conn:
                # Seeded per tenant: the same data whatever order the tenants finish in.
                fixture = await create_tenant(conn, index, m, random.Random(index))
            progress.advance(task)
            return fixture

        fixtures = await bounded(range(n), setup, SETUP_CONCURRENCY)
        with untimed("ANALYZE"):
            await pool.execute("ANALYZE")  # as autovacuum would have by billing day
    return fixtures


async def measure(args: argparse.Namespace, database_url: str, results: Results) -> None:
    from app.core.db import close_pool, open_pool

    n, m, c = args.tenants, args.subscribers, args.concurrency
    expected = n * m
    pool = results.pool = await asyncpg.create_pool(database_url, min_size=1, max_size=c)
    try:
        with new_progress() as progress:
            started = time.perf_counter()
            fixtures = await create_tenants(database_url, n, m, progress)
            results.setup_s = time.perf_counter() - started - UNTIMED["ANALYZE"]

            started = time.perf_counter()
            records = {fx.tenant.schema: baseline_records(fx) for fx in fixtures}
            results.records_s = time.perf_counter() - started

            await open_pool()  # the worker's pool: tenant_scope runs on it
            try:
                results.base_seq, results.run_seq = await paired_pass(
                    pool, fixtures, records, progress
                )
                await check_run(pool, fixtures, results.run_seq, expected, args.redis_url, results)
                results.rerun = await billing_runs(fixtures, 1, progress, "engine.run again")
                await check_run(pool, fixtures, results.rerun, 0, args.redis_url, results)

                await reset_billing(pool, fixtures)
                results.base_conc = await baseline_copy(
                    pool, fixtures, records, c, progress, f"COPY, {c} tenants at a time"
                )
                await check_invoiced(pool, fixtures)
                await reset_billing(pool, fixtures)
                del records
                results.run_conc = await billing_runs(
                    fixtures, c, progress, f"engine.run, {c} tenants at a time"
                )
                await check_run(pool, fixtures, results.run_conc, expected, args.redis_url, results)

                sample = results.sample = fixtures[: args.profile_tenants]
                await reset_billing(pool, sample)
                await profiled_pass(sample, progress, results)
                await check_invoiced(pool, sample)
                delete_queue_keys(args.redis_url)
            finally:
                await close_pool()
    finally:
        await pool.close()
    results.tenants, results.subscribers = n, m


async def check_run(
    pool: Any,
    fixtures: Sequence[Fixture],
    measured: Measured,
    expected: int,
    redis_url: str,
    results: Results,
) -> None:
    """A fast but wrong run is no result: count, numbering, money and emails are checked."""
    if measured.invoices != expected:
        raise RuntimeError(f"the run created {measured.invoices} invoices, not {expected}")
    await check_invoiced(pool, fixtures)
    check_announced(redis_url, expected, results)


def per_tenant(samples: Sequence[float]) -> str:
    stats = Stats(tuple(samples))
    return f"{stats.median * 1000:,.0f} / {stats.p90 * 1000:,.0f} ms"


def verdict(ok: bool) -> str:
    return "[bold green]PASS[/]" if ok else "[bold red]FAIL[/]"


def ratio(run: Measured, base: Measured) -> str:
    value = run.wall / base.wall
    return f"{value:.2f}× {verdict(value <= RATIO_TARGET)}"


def report(results: Results, c: int) -> None:
    total = results.tenants * results.subscribers
    table = Table(
        title=f"Billing {AS_OF} over {results.tenants} tenants × {results.subscribers:,}"
        f" active subscribers = {total:,} invoices"
    )
    headings = ("what", "time", "client CPU", "invoices", "invoices/s", "per tenant med/p90")
    for heading in (*headings, "vs COPY"):
        table.add_column(heading, justify="left" if heading == "what" else "right")
    r = results
    rows = (
        ("COPY, tenant by tenant (Σ)", r.base_seq, r.base_seq),
        ("engine.run, tenant by tenant (Σ)", r.run_seq, r.base_seq),
        (f"COPY, {c} tenants at a time", r.base_conc, r.base_conc),
        (f"engine.run, {c} tenants at a time", r.run_conc, r.base_conc),
        ("engine.run again, same as_of", r.rerun, r.base_seq),
    )
    for label, m, base in rows:
        table.add_row(
            label,
            f"{m.wall:.2f} s",
            f"{m.cpu:.2f} s",
            f"{m.invoices:,}",
            f"{m.invoices / m.wall:,.0f}" if m.invoices else "—",
            per_tenant(m.per_tenant),
            f"{m.wall / base.wall:.2f}×",
        )
    console.print(table)
    other = ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in UNTIMED.items())
    console.print(
        f"Untimed: setup {r.setup_s:.1f} s (tenants, plans, subscribers), baseline rows built in"
        f" {r.records_s:.1f} s, {other}. Email jobs queued after each engine pass:"
        f" {', '.join(map(str, r.messages))} messages, carrying each new invoice exactly once."
    )
    paired = statistics.median(
        run / copy for run, copy in zip(r.run_seq.per_tenant, r.base_seq.per_tenant, strict=True)
    )
    console.print(
        f"Target run/COPY ≤ {RATIO_TARGET:.0f}: tenant by tenant {ratio(r.run_seq, r.base_seq)}"
        f" (the headline: each tenant's COPY and run back to back, under the same load; median"
        f" of the per-tenant ratios {paired:.2f}×); {c} at a time"
        f" {ratio(r.run_conc, r.base_conc)} (separate passes)"
    )
    console.print(
        f"Idempotency: the re-run created {r.rerun.invoices} invoices in {r.rerun.wall:.2f} s"
        f" ({r.rerun.wall / r.run_seq.wall:.0%} of the first run): {verdict(r.rerun.invoices == 0)}"
    )
    console.print()
    report_profile(results)


def report_profile(results: Results) -> None:
    first, again = results.first, results.again
    n = first.invoices
    table = Table(
        title=f"Where engine.run's time goes: sequential, {len(results.sample)} tenants,"
        f" {n:,} invoices, timers on (first run {first.wall:.2f} s, re-run {again.wall:.2f} s)"
    )
    headings = ("phase (nested)", "calls", "first run", "share", "of it CPU", "µs/invoice")
    for heading in (*headings, "re-run", "share"):
        table.add_column(heading, justify="left" if heading.startswith("phase") else "right")
    for _m, _n, label, depth in phase_targets():
        seconds, again_s = first.phases.seconds[label], again.phases.seconds[label]
        table.add_row(
            "  " * depth + label,
            f"{first.phases.calls[label]:,}",
            f"{seconds:.3f} s",
            f"{seconds / first.run_total:.1%}",
            f"{first.phases.cpu[label]:.3f} s",
            f"{seconds / n * 1e6:,.1f}",
            f"{again_s:.3f} s",
            f"{again_s / again.run_total:.1%}",
        )
    console.print(table)
    table = Table(title="SQL statements in those passes (client-side wall time)")
    for heading in ("statement", "calls", "first run", "share", "of it CPU", "re-run", "share"):
        table.add_column(heading, justify="left" if heading == "statement" else "right")
    labels = set(first.sql.seconds) | set(again.sql.seconds)
    for label in sorted(labels, key=lambda k: -first.sql.seconds.get(k, 0.0)):
        a, b = first.sql.seconds.get(label, 0.0), again.sql.seconds.get(label, 0.0)
        table.add_row(
            label,
            f"{first.sql.calls.get(label, 0):,}",
            f"{a:.3f} s",
            f"{a / first.run_total:.1%}",
            f"{first.sql.cpu.get(label, 0.0):.3f} s",
            f"{b:.3f} s",
            f"{b / again.run_total:.1%}",
        )
    sql_a, sql_b = sum(first.sql.seconds.values()), sum(again.sql.seconds.values())
    table.add_row(
        "[bold]all SQL",
        "",
        f"{sql_a:.3f} s",
        f"{sql_a / first.run_total:.1%}",
        f"{sum(first.sql.cpu.values()):.3f} s",
        f"{sql_b:.3f} s",
        f"{sql_b / again.run_total:.1%}",
    )
    console.print(table)
    python_s = first.run_total - sql_a
    console.print(
        f"Python outside SQL in the first run: {python_s:.3f} s ({python_s / first.run_total:.0%})."
        f" The first run again under cProfile ({results.cprofile_wall:.2f} s, inflated),"
        " top functions by own time:"
    )
    lines = results.cprofile_text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    site = os.path.dirname(os.path.dirname(asyncpg.__file__)) + "/"
    for line in lines[start:]:
        if line.strip():
            text = line.replace(site, "").replace(os.getcwd() + "/", "")
            console.print(text, markup=False, highlight=False)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.billing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tenants", type=int, default=100, help="tenants (100)")
    parser.add_argument("--subscribers", type=int, default=1000, help="per tenant (1000)")
    parser.add_argument("--quick", action="store_true", help="10 tenants × 1000, for trying")
    parser.add_argument("--concurrency", type=int, default=4, help="tenants at a time (4)")
    parser.add_argument(
        "--profile-tenants", type=int, default=5, help="tenants in the profiled pass (5)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    if args.quick:
        args.tenants = 10
    if min(args.tenants, args.subscribers, args.concurrency, args.profile_tenants) < 1:
        parser.error("sizes must be at least 1")
    args.profile_tenants = min(args.profile_tenants, args.tenants)
    return args


def configure_environment(database_url: str) -> str:
    """Before any app module is imported: the settings and the broker read these at import."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ["WISP_QUEUE_NAMESPACE"] = QUEUE_NAMESPACE
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    return os.environ["REDIS_URL"]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name, admin_url = bench_database(database_url)
    args.redis_url = configure_environment(database_url)
    results = Results()
    started = time.perf_counter()
    try:
        with console.status(f"recreating database {name} and running `wisp migrate`"):
            asyncio.run(recreate_database(admin_url, name, create=True))
            delete_queue_keys(args.redis_url)
            with untimed("`wisp migrate`"):
                run_cli_migrate()
        try:
            asyncio.run(measure(args, database_url, results))
        except asyncpg.TooManyConnectionsError:
            raise SystemExit(
                "PostgreSQL has no connection left (max_connections is shared with every test"
                " and bench running on this server); the bench needs up to"
                f" {SETUP_CONCURRENCY} for setup, then {2 * args.concurrency + 1}. Try again later."
            ) from None
        console.print()
        report(results, args.concurrency)
    finally:
        delete_queue_keys(args.redis_url)
        if not args.keep:
            # PostgreSQL 15 checkpoints on DROP DATABASE: 10-40 s when the disk is busy.
            with console.status(f"dropping database {name}"):
                drop_started = time.perf_counter()
                asyncio.run(recreate_database(admin_url, name, create=False))
    kept = (
        f"database {name} kept"
        if args.keep
        else f"database {name} dropped in {time.perf_counter() - drop_started:.1f} s"
    )
    console.print(
        f"\n{kept}; {QUEUE_NAMESPACE} Redis keys deleted;"
        f" whole run {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
