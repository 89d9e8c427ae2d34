"""The `wisp` command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

console = Console()
T = TypeVar("T")


def run_async(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        try:
            return await coro
        finally:
            from app.core.db import close_pool

            await close_pool()

    return asyncio.run(wrapper())


@click.group()
def main() -> None:
    """Wisp Cloud: the multi-tenant cloud for wireless ISPs."""


@main.command()
@click.option("--check", is_flag=True, help="Fail when table classes and migrations disagree.")
def migrate(check: bool) -> None:
    """Apply the public track, then every tenant (and the template), resumably."""
    if check:
        from tenants.checks import migration_drift

        drift = run_async(migration_drift())
        if drift:
            for track, statements in drift.items():
                console.print(f"[red]track {track}: the tables differ from the migrations:[/red]")
                for s in statements:
                    console.print(f"  {s}")
            console.print("Run `wisp makemigrations TRACK` and commit the file.")
            sys.exit(1)
        console.print("[green]migrations match the table classes[/green]")
        return
    sys.exit(run_async(_migrate_with_progress()))


async def _migrate_with_progress() -> int:
    from app.core.db import DB
    from tenants.migrate import migrate_all

    # A pooled connection per tenant is ~4x cheaper than a new one (bench/tenancy.py).
    await DB.start_connection_pool(min_size=1, max_size=6)

    with Progress(
        TextColumn("[bold]tenants"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    ) as progress:
        task = progress.add_task("", total=None)

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_done(report: Any) -> None:
            progress.update(task, advance=1, description=report.label)

        run = await migrate_all(on_start=on_start, on_done=on_done)
    table = RichTable(title="Migration report")
    table.add_column("schema")
    table.add_column("applied")
    table.add_column("result")
    for report in [run.public, run.template, *run.tenants]:
        result = "[green]ok[/green]" if report.ok else f"[red]{report.error}[/red]"
        table.add_row(report.label, str(len(report.applied)), result)
    if len(run.tenants) > 50:
        shown = [run.public, run.template, *run.failed]
        console.print(
            f"{len(run.tenants)} tenants: {len(run.tenants) - len(run.failed)} ok, "
            f"{len(run.failed)} failed"
        )
        table = RichTable(title="Migration report (public, template and failures)")
        table.add_column("schema")
        table.add_column("applied")
        table.add_column("result")
        for report in shown:
            result = "[green]ok[/green]" if report.ok else f"[red]{report.error}[/red]"
            table.add_row(report.label, str(len(report.applied)), result)
    console.print(table)
    return 1 if run.failed else 0


@main.command()
@click.argument("track", type=click.Choice(["public", "tenant"]))
@click.option("--description", default="", help="What the migration does.")
def makemigrations(track: str, description: str) -> None:
    """Write a new migration file for TRACK from the table classes."""
    from tenants.checks import make_migration

    path = run_async(make_migration(track, description))
    if path is None:
        console.print("no changes")
    else:
        console.print(f"wrote {path}")


@main.command()
@click.option("--host", default="0.0.0.0", help="Address to listen on.")  # noqa: S104
@click.option("--workers", default=1, help="Web processes.")
def web(host: str, workers: int) -> None:
    """Serve the web app (every tenant host)."""
    import uvicorn

    from app.core.config import get_settings

    uvicorn.run(
        "app.asgi:app",
        host=host,
        port=get_settings().port,
        workers=workers,
        access_log=False,
        proxy_headers=True,
        log_config=None,
    )


@main.command()
@click.option("--processes", default=1, help="Worker processes.")
@click.option("--threads", default=4, help="Threads per process.")
def worker(processes: int, threads: int) -> None:
    """Run the Dramatiq worker that executes background jobs."""
    import os

    os.execvp(  # noqa: S606
        sys.executable,
        [
            sys.executable,
            "-m",
            "dramatiq",
            "workers.tasks",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ],
    )


@main.command()
def scheduler() -> None:
    """Enqueue periodic work (session housekeeping now; billing and suspension later)."""
    import signal

    from app.core.config import get_settings
    from app.core.logs import configure_logging
    from workers.scheduler import run_forever

    configure_logging(get_settings().log_level)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_forever(stop)

    run_async(go())


@main.command()
def routes() -> None:
    """Print the role × route table: every route and who may call it (for audits)."""
    from app.core.roles import STAFF
    from app.identity.permissions import route_table
    from app.web.app import create_app

    table = RichTable("method", "path", "who may call it")
    for row in route_table(create_app()):
        if row.roles is None:
            who = "[red]nobody (no roles declared)[/red]"
        elif row.roles >= STAFF:
            who = ", ".join(["all staff", *sorted(row.roles - STAFF)])
        else:
            who = ", ".join(sorted(row.roles))
        table.add_row(row.method, row.path, who)
    Console(width=160).print(table)


@main.command("seed-demo")
def seed_demo() -> None:
    """Create the `demo` tenant with a manager, once, and print how to sign in."""
    from app.seed import seed_demo as seed

    login = run_async(seed())
    console.print(
        f"[bold]demo tenant[/bold]: {login.portal_url}  "
        f"manager: [bold]{login.email}[/bold]  password: [bold]{login.password}[/bold]"
    )


@main.command()
def tenants() -> None:
    """List the tenants in the registry."""
    from tenants.registry import all_tenants

    table = RichTable()
    for column in ("slug", "name", "status", "schema", "language", "currency", "timezone"):
        table.add_column(column)
    for t in run_async(all_tenants()):
        table.add_row(t.slug, t.name, t.status, t.schema, t.language, t.currency, t.timezone)
    console.print(table)


@main.group()
def billing() -> None:
    """Billing runs from the command line."""


@billing.command("run")
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--as-of", "as_of", required=True, help="The billing date, YYYY-MM-DD.")
def billing_run(slug: str, as_of: str) -> None:
    """Invoice every period started by AS_OF, then suspend and reactivate (same as the API)."""
    sys.exit(run_async(_billing_run(slug, as_of)))


async def _billing_run(slug: str, as_of_text: str) -> int:
    from app.billing import runs
    from app.core.audit import Actor
    from app.core.db import open_pool
    from app.core.problems import Problem
    from tenants.registry import tenant_by_slug

    await open_pool()
    tenant = await tenant_by_slug(slug)
    if tenant is None:
        console.print(f"[red]no tenant {slug!r}[/red]")
        return 1
    actor = Actor(type="cli", label="wisp billing run")
    try:
        as_of = runs.parse_as_of(as_of_text, tenant)
        run_id, total = await runs.create(tenant, as_of, actor)
        with Progress(
            TextColumn("[bold]subscribers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("", total=total)
            out = await runs.execute(
                tenant, run_id, actor, lambda done, _t: progress.update(task, completed=done)
            )
    except Problem as problem:
        console.print(f"[red]{problem.title()}: {problem.detail or problem.extra}[/red]")
        return 1
    console.print(
        f"{tenant.slug} {out.as_of}: {out.invoiced} invoiced, {out.suspended} suspended, "
        f"{out.reactivated} reactivated ({out.status})"
    )
    if out.halted_reason:
        console.print(f"[yellow]{out.halted_reason}[/yellow]")
    return 0


@main.group("import")
def import_group() -> None:
    """Bring data over from another system."""


@import_group.command("subscribers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "slug", required=True, help="The tenant's slug.")
@click.option("--dry-run", is_flag=True, help="Only check the rows and report.")
@click.option("--invite", is_flag=True, help="Email each new subscriber a portal invitation.")
def import_subscribers(file: Path, slug: str, dry_run: bool, invite: bool) -> None:
    """Import subscribers from a CSV FILE; running it again changes nothing."""
    from app.subscribers.cli import import_subscribers as run_import

    sys.exit(run_async(run_import(file, slug, dry_run, invite, console)))


@main.command()
def run() -> None:
    """Start everything for development: services, migrations, demo tenant, web, worker and
    scheduler, until Ctrl-C."""
    try:
        from devtools.run import run_all
    except ImportError:  # the production image ships without the development tools
        console.print("[red]`wisp run` needs a source checkout (devtools/); use `wisp web`.[/red]")
        sys.exit(2)
    sys.exit(run_all())


@main.command()
@click.option("--check", is_flag=True, help="Fail on untranslated or stale catalogs.")
def i18n(check: bool) -> None:
    """Extract messages, update the catalogs in locales/ and compile them."""
    from devtools import i18n as i18n_tools

    if check:
        problems = i18n_tools.check()
        for problem in problems:
            console.print(f"[red]{problem}[/red]")
        if problems:
            sys.exit(1)
        console.print("[green]catalogs complete[/green]")
        return
    i18n_tools.update()
    console.print("catalogs updated; translate the new Spanish entries, then run again")


@main.command()
@click.option("--check", is_flag=True, help="Fail when pwa/openapi.json or its types are stale.")
def openapi(check: bool) -> None:
    """Write pwa/openapi.json from the app and regenerate the PWA's API types from it."""
    import os

    from devtools import openapi as export

    if not check:
        for path in export.regenerate():
            console.print(f"wrote {path}")
        return
    problems = export.stale_document()
    try:
        problems += export.stale_types()
    except export.ToolMissing as missing:  # a back-end machine: the JSON is still checked
        problems += [str(missing)] if os.environ.get("CI") == "true" else []
        console.print(f"[yellow]{missing}[/yellow]")
    for line in problems:
        console.print(line, markup=False, highlight=False)
    if problems:
        sys.exit(1)
    console.print("[green]pwa/openapi.json and the PWA's API types are current[/green]")


if __name__ == "__main__":
    main()
