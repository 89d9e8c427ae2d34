"""The OpenAPI document as a file, and the PWA's API types generated from it (`wisp openapi`).

`pwa/openapi.json` and `pwa/src/api/schema.d.ts` are committed, so the PWA builds without a
running server and a review shows how a change moved the API. Both are derived: `check()` finds
them stale when regenerating would change either (a test and `make lint` run it).
"""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from app.core.config import ROOT
from app.web.app import create_app

PWA = ROOT / "pwa"
DOCUMENT = "openapi.json"
TYPES = "src/api/schema.d.ts"


class ToolMissing(Exception):
    """Node or the PWA's openapi-typescript is not installed (the types cannot be generated)."""


def document() -> dict[str, Any]:
    # Built from the app without serving it: no database, no Redis, nothing started.
    schema: dict[str, Any] = create_app().openapi_schema.to_schema()
    return schema


def render(doc: dict[str, Any]) -> str:
    # Sorted keys: moving a handler or a field in the code does not reorder the file.
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _generator(pwa: Path) -> list[str]:
    node = shutil.which("node")
    cli = pwa / "node_modules" / "openapi-typescript" / "bin" / "cli.js"
    if node is None:
        raise ToolMissing("node is not installed: the PWA's API types cannot be generated")
    if not cli.is_file():
        raise ToolMissing(f"openapi-typescript is not installed: run `npm ci` in {pwa}")
    return [node, str(cli)]


def generate_types(pwa: Path, source: Path, output: Path) -> None:
    """Run the PWA's pinned openapi-typescript on `source`, writing `output`."""
    # A field with a default is optional for whoever sends it; openapi-typescript would make it
    # required, which suits responses only, and most of our schemas with defaults are inputs.
    options = ["--default-non-nullable", "false"]
    command = [*_generator(pwa), str(source), "--output", str(output), *options]
    done = subprocess.run(command, cwd=pwa, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openapi-typescript failed: {done.stderr or done.stdout}")


def regenerate(pwa: Path = PWA) -> list[Path]:
    """Write the document, then the types from it; returns the files written."""
    (pwa / DOCUMENT).write_text(render(document()))
    (pwa / TYPES).parent.mkdir(parents=True, exist_ok=True)
    generate_types(pwa, pwa / DOCUMENT, pwa / TYPES)
    return [pwa / DOCUMENT, pwa / TYPES]


def _diff(name: str, committed: Path, fresh: str) -> list[str]:
    old = committed.read_text() if committed.is_file() else ""
    if old == fresh:
        return []
    lines = difflib.unified_diff(
        old.splitlines(), fresh.splitlines(), f"{name} (committed)", f"{name} (fresh)", lineterm=""
    )
    shown = list(lines)
    more = f"… {len(shown) - 40} more diff lines" if len(shown) > 40 else ""
    return [f"{name} is stale: run `wisp openapi`", *shown[:40], *([more] if more else [])]


def stale_document(pwa: Path = PWA) -> list[str]:
    """Differences between the committed document and the app's (Python only)."""
    return _diff(DOCUMENT, pwa / DOCUMENT, render(document()))


def stale_types(pwa: Path = PWA) -> list[str]:
    """Differences between the committed types and those generated from the app's document.

    Generated from the fresh document, not the committed one, so a stale document with
    hand-edited types to match it is still caught. Raises ToolMissing without node.
    """
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / DOCUMENT, Path(tmp) / "schema.d.ts"
        source.write_text(render(document()))
        generate_types(pwa, source, output)
        return _diff(TYPES, pwa / TYPES, output.read_text())
