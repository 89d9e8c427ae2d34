"""Building the PWA when its sources are newer than its build (`make run`, `make test`)."""

from __future__ import annotations

import shutil
import subprocess

from rich.console import Console

from app.core.config import ROOT
from app.pwa.shell import DIST

PWA = ROOT / "pwa"


def _newest(path_glob: list[str]) -> float:
    times = [p.stat().st_mtime for g in path_glob for p in PWA.glob(g) if p.is_file()]
    return max(times, default=0.0)


def ensure_built(console: Console) -> bool:
    if not (PWA / "package.json").exists():
        return False
    sources = _newest(["src/**/*", "index.html", "package.json", "vite.config.*", "public/**/*"])
    built = (DIST / "index.html").stat().st_mtime if (DIST / "index.html").exists() else 0.0
    if built >= sources:
        return True
    npm = shutil.which("npm")
    if npm is None:
        console.print("[yellow]npm not found: the PWA cannot be built[/yellow]")
        return False
    console.print("building the PWA…")
    if not (PWA / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PWA, check=True)
    subprocess.run([npm, "run", "build"], cwd=PWA, check=True)
    return True
