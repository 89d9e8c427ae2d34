"""`wisp i18n`: extract, update and compile the catalogs; `--check` is what `make lint` runs."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from app.core.config import ROOT
from app.core.i18n import LANGUAGES, LOCALES_DIR

POT = LOCALES_DIR / "messages.pot"
SOURCE_LANGUAGE = "en"


def _pybabel(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def extract(target: Path) -> None:
    _pybabel(
        "extract",
        "-F",
        "babel.cfg",
        "-k",
        "lazy",
        "-k",
        "_",
        "-o",
        str(target),
        "--no-location",
        "--sort-output",
        "--omit-header",
        ".",
    )


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def _po(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"


def update() -> None:
    extract(POT)
    for language in LANGUAGES:
        _pybabel("update", "-i", str(POT), "-d", str(LOCALES_DIR), "-l", language)
        _unfuzzy_header(_po(language), language)
    _pybabel("compile", "-d", str(LOCALES_DIR))


def _unfuzzy_header(path: Path, language: str) -> None:
    """pybabel compiles nothing from a catalog whose header is fuzzy; ours is reviewed."""
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    catalog.fuzzy = False
    catalog.project, catalog.version = "Wisp Cloud", "1"
    with path.open("wb") as f:
        write_po(f, catalog, sort_output=True, no_location=True)


def check() -> list[str]:
    """Problems that block a merge: stale template, untranslated Spanish, stale binaries."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "messages.pot"
        extract(fresh)
        with fresh.open("rb") as f:
            code_ids = _ids(read_po(f))
    for language in LANGUAGES:
        po_path = _po(language)
        if not po_path.exists():
            problems.append(f"{po_path} is missing")
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=language)
        missing = code_ids - _ids(catalog)
        for msgid in sorted(missing):
            problems.append(f"{language}: not in the catalog (run `wisp i18n`): {msgid!r}")
        if language != SOURCE_LANGUAGE:
            for m in catalog:
                if not m.id:
                    continue
                text = m.string if isinstance(m.string, str) else "".join(m.string or ())
                if not text:
                    problems.append(f"{language}: untranslated: {m.id!r}")
                elif m.fuzzy:
                    problems.append(f"{language}: fuzzy: {m.id!r}")
        mo_path = po_path.with_suffix(".mo")
        if not mo_path.exists():
            problems.append(f"{mo_path} is missing (run `wisp i18n`)")
            continue
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        fresh_mo = {m.id: m.string for m in read_mo(compiled) if m.id}
        with mo_path.open("rb") as f:
            on_disk = {m.id: m.string for m in read_mo(f) if m.id}
        if fresh_mo != on_disk:
            problems.append(f"{mo_path} is older than its .po (run `wisp i18n`)")
    return problems
