"""The PWA's API types are generated from the app's OpenAPI document and kept current.

`pwa/openapi.json` and `pwa/src/api/schema.d.ts` are committed; regenerating either must change
nothing (`wisp openapi` regenerates both, `wisp openapi --check` is in `make lint`). The types
need node and the PWA's openapi-typescript: skipped with the reason without them, a failure
under CI.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from devtools import openapi as export
from tests.conftest import ROOT

PWA = ROOT / "pwa"
T = TypeVar("T")


def _types_or_skip(run: Callable[[], T]) -> T:
    """Run something that needs node: without it, skip locally and fail under CI."""
    try:
        return run()
    except export.ToolMissing as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(str(missing))
        pytest.skip(str(missing))


def test_the_committed_openapi_document_is_the_apps() -> None:
    assert export.stale_document() == [], "\n".join(export.stale_document())


def test_the_committed_api_types_are_generated_from_the_apps_document() -> None:
    problems = _types_or_skip(export.stale_types)
    assert problems == [], "\n".join(problems)


def test_the_document_does_not_depend_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lead and CI regenerate on other machines: settings must not leak into the file.
    from app.core.config import get_settings

    before = export.render(export.document())
    monkeypatch.setenv("BASE_DOMAIN", "wisp.example.net")
    monkeypatch.setenv("PUBLIC_SCHEME", "https")
    monkeypatch.setenv("WISP_DEV_MAIL_DIR", str(ROOT / ".data" / "mail"))  # adds /dev/mail routes
    get_settings.cache_clear()
    try:
        assert get_settings().base_domain == "wisp.example.net"
        after = export.render(export.document())
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert after == before


def test_a_stale_document_and_stale_types_are_reported(tmp_path: Path) -> None:
    """The check can fail: a copy of pwa/ whose files lag behind the app is caught."""
    pwa = tmp_path / "pwa"
    (pwa / "src" / "api").mkdir(parents=True)
    document = (PWA / export.DOCUMENT).read_text()
    (pwa / export.DOCUMENT).write_text(document.replace('"Wisp Cloud API"', '"Old API"'))
    types = (PWA / export.TYPES).read_text()
    (pwa / export.TYPES).write_text(re.sub(r"\n\s+is_active: boolean;", "", types, count=1))
    if (PWA / "node_modules").is_dir():
        (pwa / "node_modules").symlink_to(PWA / "node_modules")

    document_problems = export.stale_document(pwa)
    assert document_problems[0] == "openapi.json is stale: run `wisp openapi`"
    assert any('"Old API"' in line for line in document_problems)

    type_problems = _types_or_skip(lambda: export.stale_types(pwa))
    assert type_problems[0] == "src/api/schema.d.ts is stale: run `wisp openapi`"
    assert any("is_active: boolean;" in line for line in type_problems)


def test_regenerating_writes_what_the_check_expects(tmp_path: Path) -> None:
    pwa = tmp_path / "pwa"
    pwa.mkdir()
    if (PWA / "node_modules").is_dir():
        (pwa / "node_modules").symlink_to(PWA / "node_modules")
    written = _types_or_skip(lambda: export.regenerate(pwa))
    assert written == [pwa / export.DOCUMENT, pwa / export.TYPES]
    assert export.stale_document(pwa) == []
    assert export.stale_types(pwa) == []
    assert (pwa / export.TYPES).read_bytes() == (PWA / export.TYPES).read_bytes()


def test_the_pwa_writes_no_api_type_the_document_describes() -> None:
    """Types of the server's JSON come from the generated schema; api.ts declares only the few
    the document cannot describe (problem details, call options, the steps' bodies by name)."""
    source = (PWA / "src" / "api.ts").read_text()
    assert 'from "./api/schema"' in source
    declared = set(re.findall(r"^export interface (\w+)", source, re.MULTILINE))
    assert declared <= {"Problem", "CallOptions", "TransitionBody"}, declared
    for view in (PWA / "src").rglob("*.ts"):
        if view.name == "schema.d.ts":
            continue
        # A response type spelled out inline next to a call would dodge the generated types.
        assert not re.search(r"\b(get|post|patch)<\{", view.read_text()), view
