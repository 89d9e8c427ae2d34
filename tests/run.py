"""The test command (`make test`): services, a fresh test database, migrations, then pytest.

Uses DATABASE_URL / REDIS_URL when set (CI: the machine's PostgreSQL and Redis); otherwise it
starts embedded ones under `.data/test`. The suite runs in one database created for this run,
each test working in tenants of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

from app.core.config import ROOT


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _recreate(url: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(_with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def main() -> int:
    os.chdir(ROOT)
    from devtools.services import ensure_services

    # The tests run an SMTP server of their own in each test process, not the mail catcher.
    placeholder = "SMTP_HOST" not in os.environ
    os.environ.setdefault("SMTP_HOST", "tests")
    stops = ensure_services(ROOT / ".data" / "test")
    if placeholder:
        os.environ.pop("SMTP_HOST")
    try:
        name = os.environ.get("WISP_TEST_DATABASE", "wisp_test")
        asyncio.run(_recreate(os.environ["DATABASE_URL"], name))
        os.environ["DATABASE_URL"] = _with_database(os.environ["DATABASE_URL"], name)
        os.environ.setdefault("WISP_ALLOW_FUTURE_BILLING", "1")
        if subprocess.call([sys.executable, "-m", "app.cli", "migrate"]) != 0:
            return 1
        from rich.console import Console

        from devtools.pwa_build import ensure_built

        if os.environ.get("WISP_SKIP_PWA_BUILD") != "1":  # for back-end work while pwa/ is broken
            ensure_built(Console())
        args = sys.argv[1:] or ["-n", os.environ.get("WISP_TEST_PROCESSES", "auto"), "tests"]
        return subprocess.call([sys.executable, "-m", "pytest", *args])
    finally:
        for stop in stops:
            stop()


if __name__ == "__main__":
    sys.exit(main())
