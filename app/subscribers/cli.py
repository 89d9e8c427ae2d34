"""`wisp import subscribers FILE --tenant SLUG [--dry-run]`: the CSV import with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from app.core.audit import Actor
from app.core.problems import Invalid, Problem
from app.subscribers.importer import ImportRejected, RowError, run_import
from tenants.registry import tenant_by_slug


def _errors_table(errors: list[RowError]) -> RichTable:
    table = RichTable(title="Rows to correct")
    for column in ("line", "field", "problem"):
        table.add_column(column)
    for e in errors:
        table.add_row(str(e.row), e.field, e.message)
    return table


async def import_subscribers(
    path: Path, slug: str, dry_run: bool, invite: bool, console: Console
) -> int:
    """Returns the process exit code: 0 done, 1 bad rows or file, 2 no such tenant."""
    tenant = await tenant_by_slug(slug)
    if tenant is None:
        console.print(f"[red]no tenant with the slug {slug!r}[/red]")
        return 2
    actor = Actor(type="system", label=f"wisp import {path.name}")
    raw = await asyncio.to_thread(path.read_bytes)
    try:
        with Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=dry_run,
        ) as progress:
            task = progress.add_task("", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = await run_import(
                tenant, raw, actor, dry_run=dry_run, invite=invite, progress=on_progress
            )
    except ImportRejected as rejected:
        rows = [RowError(**e) for e in rejected.extra.get("errors", [])]
        console.print(_errors_table(rows))
        console.print(f"[red]{rejected.detail}[/red]")
        return 1
    except Invalid as invalid:
        for name, message in invalid.errors.items():
            console.print(f"[red]{name}: {message}[/red]")
        return 1
    except Problem as problem:
        console.print(f"[red]{problem.detail or problem.title()}[/red]")
        return 1
    if report.errors:
        console.print(_errors_table(report.errors))
    verb = "would create" if dry_run else "created"
    console.print(
        f"{report.rows} rows: {verb} {report.created}, already there {report.existing}, "
        f"with errors {len({e.row for e in report.errors})}"
    )
    return 1 if report.errors else 0
