"""How long creating a tenant and migrating many tenants take, on a throwaway database.

Run from the repository root:

    .venv/bin/python -m bench.tenancy [--signups 20] [--schemas 200] [--keep]

The database named by DATABASE_URL (default `wisp_bench` on the local server) is dropped and
recreated at start and dropped at the end; to keep anyone's real database safe, its name must
contain "bench". Everything runs through the real code: the `wisp migrate` CLI, `sign_up`,
`create_schema`, `migrate_many`. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

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

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/wisp_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
QUEUE_NAMESPACE = "wisp-bench"

SIGNUP_TARGET_S = 1.0
MIGRATE_TARGET_TENANTS = 1000
MIGRATE_TARGET_S = 60.0

# The same password the test suite signs up with: long enough, not common, not the email.
PASSWORD = "correct horse battery staple"

# Sorts after every real tenant migration, as a new one would.
MIGRATION_ID = "2099-01-01T00:00:00:000000"
COLUMN = "bench_nickname"

# What `wisp makemigrations tenant` writes for a new nullable-free Varchar on StaffUser: the
# realistic case goes through Piccolo's add_column path, not a hand-written ALTER.
MIGRATION_SOURCE = f'''\
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "{MIGRATION_ID}"
VERSION = "1.38.0"
DESCRIPTION = "bench: a nickname for staff users"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="bench", description=DESCRIPTION)
    manager.add_column(
        table_class_name="StaffUser",
        tablename="staff_user",
        column_name="{COLUMN}",
        db_column_name="{COLUMN}",
        column_class_name="Varchar",
        column_class=Varchar,
        params={{
            "length": 100,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        }},
        schema=None,
    )
    return manager
'''

# Pinned to the stream we start with: the code under measurement swaps `sys.stdout` (Piccolo's
# prints are silenced with contextlib.redirect_stdout), and the report must not vanish with it.
console = Console(file=sys.stdout)
if not console.is_terminal:
    # Piped into a file or a report, rich would wrap the tables at 80 columns.
    console.width = 110


# Statistics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        if len(self.samples) < 2:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=10, method="inclusive")[8]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def need(stats: Stats | None) -> Stats:
    if stats is None:
        raise RuntimeError("a measurement is missing")
    return stats


def verdict(ok: bool) -> str:
    return "[bold green]PASS[/bold green]" if ok else "[bold red]FAIL[/bold red]"


@dataclass
class Results:
    signup: Stats | None = None
    signup_argon2: Stats | None = None
    signup_clone: Stats | None = None
    signup_rest: Stats | None = None
    signup_first: float = 0.0
    welcome_messages: int = 0
    argon2_params: str = ""
    clone_rolled_back: Stats | None = None
    clone_committed: Stats | None = None
    schemas: int = 0
    baseline_s: float = 0.0
    baseline_ddl: str = ""
    migrate_cli_s: float = 0.0
    migrate_pool_s: float = 0.0
    stdout_leaks: list[str] = field(default_factory=list)


# Setup and teardown -----------------------------------------------------------------------------


def bench_database(url: str) -> tuple[str, str]:
    """The database's name and a URL of the server's maintenance database."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        # DATABASE_URL is often the developer's own database (.env.example names `wisp`);
        # this script drops its database, so it refuses any name not obviously throwaway.
        raise SystemExit(
            f"DATABASE_URL names the database {name!r}; the bench drops and recreates its"
            " database, so the name must contain 'bench' (e.g. .../wisp_bench)."
        )
    return name, urlunsplit(parts._replace(path="/postgres"))


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def recreate_database(admin_url: str, name: str, *, create: bool) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        # FORCE ends stray sessions (a crashed earlier run, a psql left open) instead of failing.
        await connection.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
        if create:
            await connection.execute(f"CREATE DATABASE {quote(name)}")
    finally:
        await connection.close()


def configure_environment(database_url: str) -> None:
    """Must run before any app module is imported: settings and the broker read it at import."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ["WISP_QUEUE_NAMESPACE"] = QUEUE_NAMESPACE
    # Without SECRET_KEY the settings write a development key into .data/; nothing here is
    # signed, and the bench writes nothing outside its own database and Redis namespace.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))


def run_cli_migrate() -> float:
    """Migrate the fresh database the way an operator does: `wisp migrate`, in its own process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"`wisp migrate` failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def queue_keys(redis_url: str) -> tuple[Any, list[str]]:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [k.decode() for k in client.scan_iter(match=f"{QUEUE_NAMESPACE}:*", count=500)]
    return client, keys


def count_welcome_messages(redis_url: str) -> int:
    client, keys = queue_keys(redis_url)
    try:
        # Dramatiq keeps each queue's payloads in a hash `<namespace>:<queue>.msgs`.
        return sum(int(client.hlen(k)) for k in keys if k.endswith(".msgs"))
    finally:
        client.close()


def delete_queue_keys(redis_url: str) -> int:
    client, keys = queue_keys(redis_url)
    try:
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def new_progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# Part 1: tenant creation ------------------------------------------------------------------------


@contextmanager
def stopwatch(module: ModuleType, name: str, sink: list[float]) -> Iterator[None]:
    """Time every call of `module.name` (sync or async) into `sink`, for the block only.

    Wrapping the names sign_up actually calls splits each signup into its parts on the same
    run, instead of subtracting medians of separate loops (argon2 alone varies by ±30% here).
    """
    original = getattr(module, name)
    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(original):

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                sink.append(time.perf_counter() - started)

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                sink.append(time.perf_counter() - started)

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


async def bench_signups(count: int, progress: Progress, results: Results) -> None:
    import app.identity.actions
    import app.signup.actions
    from app.core.audit import SYSTEM
    from app.identity import passwords
    from app.signup.schemas import SignupIn

    tag = secrets.token_hex(3)
    task = progress.add_task("sign_up (full signup path)", total=count)
    totals: list[float] = []
    hashes: list[float] = []
    clones: list[float] = []
    # Both names are looked up in the calling module at call time, so patching them there
    # catches exactly the calls sign_up makes.
    with (
        stopwatch(app.signup.actions, "hash_password_async", hashes),
        stopwatch(app.signup.actions, "create_schema", clones),
    ):
        for i in range(count):
            slug = f"bench-{tag}-{i:02d}"
            data = SignupIn(
                company_name=f"Bench WISP {i:02d}",
                slug=slug,
                email=f"owner@{slug}.example.com",
                password=PASSWORD,
            )
            started = time.perf_counter()
            await app.signup.actions.sign_up(data, SYSTEM, by_operator=True)
            totals.append(time.perf_counter() - started)
            progress.advance(task)
    if not len(totals) == len(hashes) == len(clones):
        raise RuntimeError("sign_up no longer calls hash_password_async and create_schema once")
    results.signup = Stats(tuple(totals))
    results.signup_argon2 = Stats(tuple(hashes))
    results.signup_clone = Stats(tuple(clones))
    results.signup_rest = Stats(
        tuple(t - h - c for t, h, c in zip(totals, hashes, clones, strict=True))
    )
    results.signup_first = totals[0]
    hasher = getattr(passwords, "_hasher", None)
    if hasher is not None:
        results.argon2_params = (
            f"argon2id t={hasher.time_cost} m={hasher.memory_cost // 1024} MiB"
            f" p={hasher.parallelism}"
        )


async def bench_clone_rolled_back(count: int, progress: Progress, results: Results) -> None:
    """create_schema alone, rolled back: the clone's own cost with no commit and no leftovers."""
    from app.core.db import DB
    from tenants.provision import create_schema

    task = progress.add_task("create_schema alone (rolled back)", total=count)
    samples: list[float] = []
    if DB.pool is None:
        raise RuntimeError("open the pool first: signups and clones run on it, as in the app")
    async with DB.pool.acquire() as connection:
        for _ in range(count):
            transaction = connection.transaction()
            await transaction.start()
            try:
                started = time.perf_counter()
                await create_schema(connection, f"t_{uuid.uuid4().hex}")
                samples.append(time.perf_counter() - started)
            finally:
                await transaction.rollback()
            progress.advance(task)
    results.clone_rolled_back = Stats(tuple(samples))


# Part 2: one new migration over many tenants ----------------------------------------------------


async def create_tenant_schemas(count: int, progress: Progress, results: Results) -> list[str]:
    """Committed clones; no registry rows, since migrate_many takes (schema, label) pairs."""
    from app.core.db import DB
    from tenants.provision import create_schema

    task = progress.add_task(f"clone {count} schemas (committed)", total=count)
    schemas: list[str] = []
    samples: list[float] = []
    for _ in range(count):
        schema = f"t_{uuid.uuid4().hex}"
        started = time.perf_counter()
        async with DB.transaction() as transaction:
            await create_schema(transaction.connection, schema)
        samples.append(time.perf_counter() - started)
        schemas.append(schema)
        progress.advance(task)
    results.clone_committed = Stats(tuple(samples))
    return schemas


def write_migration(folder: Path) -> None:
    (folder / "__init__.py").write_text("")
    (folder / "bench_2099_01_01t00_00_00_000000.py").write_text(MIGRATION_SOURCE)


async def piccolo_add_column_ddl(track: Any) -> str:
    """The exact statement the migration's add_column runs, built the way Piccolo builds it."""
    from piccolo.table import create_table_class

    manager = await track.modules()[MIGRATION_ID].forwards()
    add = manager.add_columns.add_columns[0]
    table = create_table_class(
        class_name=add.table_class_name,
        class_kwargs={"tablename": add.tablename, "schema": add.schema},
        class_members={add.column._meta.name: add.column},
    )
    column = table._meta.get_column_by_name(add.column._meta.name)
    ddl = table.alter().add_column(name=column._meta.name, column=column).ddl
    statement = str(ddl[0] if isinstance(ddl, list | tuple) else ddl)
    prefix = f'ALTER TABLE "{add.tablename}" '
    if not statement.startswith(prefix):
        raise RuntimeError(f"unexpected DDL from Piccolo: {statement}")
    return statement


def qualified(statement: str, schema: str) -> str:
    # The migration runs unqualified under a search_path; the baseline names the schema instead
    # of paying a `set_config` round trip per tenant, which is part of what it is compared with.
    return statement.replace('ALTER TABLE "', f'ALTER TABLE {quote(schema)}."', 1)


async def baseline_alter(
    database_url: str, schemas: Sequence[str], statement: str, progress: Progress
) -> float:
    """The floor: one connection, one autocommitted ALTER TABLE per schema, nothing else."""
    task = progress.add_task("baseline: plain asyncpg ALTER", total=len(schemas))
    connection = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        for schema in schemas:
            await connection.execute(qualified(statement, schema))
            progress.advance(task)
        return time.perf_counter() - started
    finally:
        await connection.close()


async def undo_migration(
    database_url: str, schemas: Sequence[str], progress: Progress, label: str
) -> None:
    """Untimed: drop the column and forget the record, so the next run does the same work."""
    task = progress.add_task(label, total=len(schemas))
    connection = await asyncpg.connect(database_url)
    try:
        for schema in schemas:
            async with connection.transaction():
                await connection.execute(
                    f"ALTER TABLE {quote(schema)}.staff_user DROP COLUMN IF EXISTS {quote(COLUMN)}"
                )
                await connection.execute(
                    f"DELETE FROM {quote(schema)}.wisp_migration WHERE id = $1", MIGRATION_ID
                )
            progress.advance(task)
    finally:
        await connection.close()


async def check_migrated(database_url: str, schemas: Sequence[str]) -> None:
    """Every schema must have the column and the record; a fast but wrong run is no result."""
    connection = await asyncpg.connect(database_url)
    try:
        columns = await connection.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'staff_user'"
            " AND column_name = $1 AND table_schema = ANY($2::text[])"
            " AND data_type = 'character varying' AND character_maximum_length = 100"
            " AND is_nullable = 'NO'",
            COLUMN,
            list(schemas),
        )
    finally:
        await connection.close()
    if columns != len(schemas):
        raise RuntimeError(f"only {columns} of {len(schemas)} schemas have the new column")


async def timed_migrate_many(
    schemas: Sequence[str], track: Any, progress: Progress, label: str, results: Results
) -> float:
    from tenants.migrate import SchemaReport, migrate_many

    task = progress.add_task(label, total=len(schemas))

    def on_done(report: SchemaReport) -> None:
        progress.advance(task)

    stdout_before: TextIO = sys.stdout
    started = time.perf_counter()
    reports = await migrate_many([(s, s) for s in schemas], track, on_done)
    elapsed = time.perf_counter() - started
    # tenants.migrate installs one forwarding wrapper for good (it silences Piccolo per task);
    # anything else left in place of the stream would be a leak.
    if sys.stdout is not stdout_before and getattr(sys.stdout, "real", None) is not stdout_before:
        results.stdout_leaks.append(f"{label}: left {type(sys.stdout).__name__}")
        sys.stdout = stdout_before
    failed = [r for r in reports if not r.ok]
    wrong = [r for r in reports if r.ok and r.applied != [MIGRATION_ID]]
    if failed or wrong:
        sample = (failed or wrong)[0]
        raise RuntimeError(
            f"{len(failed)} failed, {len(wrong)} applied something else; first: "
            f"{sample.schema}: {sample.error or sample.applied}"
        )
    return elapsed


# Orchestration ----------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, database_url: str, results: Results) -> None:
    from app.core.db import DB, close_pool, open_pool
    from tenants.migrate import Track

    with new_progress() as progress:
        await open_pool()  # the web app's startup hook: signups run on the pool
        try:
            await bench_signups(args.signups, progress, results)
            await bench_clone_rolled_back(args.signups, progress, results)
            schemas = await create_tenant_schemas(args.schemas, progress, results)
        finally:
            await close_pool()
        results.schemas = len(schemas)
        results.welcome_messages = count_welcome_messages(os.environ["REDIS_URL"])

        with tempfile.TemporaryDirectory(prefix="wisp-bench-migration-") as folder:
            write_migration(Path(folder))
            track = Track("bench", Path(folder))
            statement = await piccolo_add_column_ddl(track)
            results.baseline_ddl = statement

            results.baseline_s = await baseline_alter(database_url, schemas, statement, progress)
            await undo_migration(database_url, schemas, progress, "undo baseline (untimed)")

            # `wisp migrate` never opens the pool, so each tenant gets a fresh connection.
            if DB.pool is not None:
                raise RuntimeError("the pool should be closed for the CLI-shaped run")
            results.migrate_cli_s = await timed_migrate_many(
                schemas, track, progress, "migrate_many, no pool (as CLI)", results
            )
            await check_migrated(database_url, schemas)
            await undo_migration(database_url, schemas, progress, "undo migration (untimed)")

            # The same call from a process that has the pool open (the web app, a worker).
            await open_pool()
            try:
                results.migrate_pool_s = await timed_migrate_many(
                    schemas, track, progress, "migrate_many, pool open", results
                )
            finally:
                await close_pool()
            await check_migrated(database_url, schemas)


def report(results: Results, migrate_setup_s: float) -> None:
    signup = need(results.signup)
    table = Table(title=f"Tenant creation ({len(signup.samples)} signups)")
    for heading in ("what", "median", "p90", "min", "max"):
        table.add_column(heading, justify="left" if heading == "what" else "right")
    rows: list[tuple[str, Stats]] = [
        ("sign_up, whole call", signup),
        (f"  of which argon2 hash ({results.argon2_params})", need(results.signup_argon2)),
        ("  of which create_schema (clone)", need(results.signup_clone)),
        ("  of which the rest (rows, commit, enqueue)", need(results.signup_rest)),
        ("create_schema alone, rolled back", need(results.clone_rolled_back)),
        (f"create_schema alone, committed (n={results.schemas})", need(results.clone_committed)),
    ]
    for label, stats in rows:
        table.add_row(label, ms(stats.median), ms(stats.p90), ms(stats.min), ms(stats.max))
    console.print(table)
    console.print(f"first signup of the process (cold caches): {ms(results.signup_first)}")
    console.print(f"welcome messages enqueued under {QUEUE_NAMESPACE}: {results.welcome_messages}")
    console.print(
        f"Target: tenant creation under {SIGNUP_TARGET_S:.0f} s —"
        f" median {ms(signup.median)}, p90 {ms(signup.p90)},"
        f" max {ms(signup.max)}: {verdict(signup.max < SIGNUP_TARGET_S)}"
    )
    console.print()

    n = results.schemas
    table = Table(title=f"One new tenant migration over {n} schemas")
    for heading in ("how", "total", "per tenant", "vs baseline", f"→ {MIGRATE_TARGET_TENANTS:,}"):
        table.add_column(heading, justify="left" if heading == "how" else "right")
    scale = MIGRATE_TARGET_TENANTS / n
    for label, total in (
        ("baseline: plain asyncpg ALTER, 1 connection", results.baseline_s),
        ("migrate_many, no pool (as `wisp migrate`)", results.migrate_cli_s),
        ("migrate_many, pool open", results.migrate_pool_s),
    ):
        table.add_row(
            label,
            f"{total:.2f} s",
            ms(total / n),
            f"{total / results.baseline_s:.1f}×",
            f"{total * scale:.1f} s",
        )
    console.print(table)
    console.print(f"statement: {results.baseline_ddl}")
    console.print(f"(database setup with `wisp migrate` took {migrate_setup_s:.1f} s, untimed)")
    projected = results.migrate_cli_s * scale
    console.print(
        f"Target: {MIGRATE_TARGET_TENANTS:,} tenants under {MIGRATE_TARGET_S:.0f} s —"
        f" `wisp migrate` path extrapolates to {projected:.1f} s:"
        f" {verdict(projected < MIGRATE_TARGET_S)}"
    )
    if results.stdout_leaks:
        console.print()
        console.print("[bold yellow]Noticed while measuring:[/bold yellow]")
        console.print(
            f"- sys.stdout was not restored after migrate_many ({'; '.join(results.stdout_leaks)})."
            " migrate_schema wraps an awaited manager.run() in contextlib.redirect_stdout, a"
            " process-global swap that concurrent tasks undo out of order; everything the process"
            " prints afterwards (`wisp migrate`'s progress bar and report) goes into a StringIO."
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tenancy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--signups", type=int, default=20, help="tenants signed up (20)")
    parser.add_argument("--schemas", type=int, default=200, help="schemas migrated (200)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    if args.signups < 1 or args.schemas < 1:
        parser.error("--signups and --schemas must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name, admin_url = bench_database(database_url)
    configure_environment(database_url)
    redis_url = os.environ["REDIS_URL"]
    results = Results()
    started = time.perf_counter()
    cleanups: list[Callable[[], object]] = []
    try:
        with console.status(f"recreating database {name} and running `wisp migrate`"):
            asyncio.run(recreate_database(admin_url, name, create=True))
            if not args.keep:
                cleanups.append(
                    lambda: asyncio.run(recreate_database(admin_url, name, create=False))
                )
            delete_queue_keys(redis_url)  # leftovers of a crashed run would inflate the count
            cleanups.append(lambda: delete_queue_keys(redis_url))
            migrate_setup_s = run_cli_migrate()
        asyncio.run(measure(args, database_url, results))
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
    console.print()
    report(results, migrate_setup_s)
    kept = f"database {name} kept" if args.keep else f"database {name} dropped"
    console.print(
        f"\n{kept}; {QUEUE_NAMESPACE} Redis keys deleted;"
        f" whole run {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
