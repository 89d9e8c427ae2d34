"""`wisp run`: the whole product on one machine, for development and demos.

Starts embedded PostgreSQL, Redis and a mail catcher for whichever of DATABASE_URL, REDIS_URL
and SMTP_HOST is unset, migrates, seeds the demo tenant, then runs web, worker and scheduler
as child processes until Ctrl-C, and stops all of them cleanly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from rich.console import Console

from app.core.config import ROOT
from devtools.pwa_build import ensure_built
from devtools.services import ensure_services

console = Console()


def _wisp(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


def _build_pwa() -> None:
    ensure_built(console)


def run_all() -> int:
    os.chdir(ROOT)
    stops: list[Callable[[], None]] = ensure_services(ROOT / ".data")
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        if subprocess.call(_wisp("migrate")) != 0:
            console.print("[red]migration failed; see the report above[/red]")
            return 1
        if subprocess.call(_wisp("seed-demo")) != 0:
            return 1
        _build_pwa()
        # Each child in its own session: Ctrl-C reaches only this supervisor, which then stops
        # each child once with SIGTERM (Dramatiq hangs when SIGINT and SIGTERM arrive together)
        # and, failing that, kills its whole process group.
        for args in (["web", "--host", "127.0.0.1"], ["worker"], ["scheduler"]):
            children.append(subprocess.Popen(_wisp(*args), start_new_session=True))
        port = os.environ.get("PORT", "8000")
        console.print(
            f"\n[bold green]Wisp Cloud is running[/bold green]\n"
            f"  sign up a WISP:  http://localhost:{port}\n"
            f"  demo portal:     http://demo.localhost:{port}\n"
            f"  API schema:      http://localhost:{port}/schema\n"
            + (
                f"  caught mail:     http://localhost:{port}/dev/mail\n"
                if os.environ.get("WISP_DEV_MAIL_DIR")
                else ""
            )
            + "Press Ctrl-C to stop.\n"
        )
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    console.print(f"[red]a process exited ({child.args!r}); stopping[/red]")
                    stopping = True
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping…")
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        for stop in stops:
            try:
                stop()
            except Exception as exc:  # one failing stop must not keep the others running
                console.print(f"[yellow]{exc}[/yellow]")
        console.print("stopped")
    return 0
