"""The built PWA in `pwa/dist`: the page, its hashed assets and the service worker.

Files are read once and kept in memory with a gzip copy (the whole build is a few hundred KB),
and re-read when the build's mtime changes, so `make run` picks up a rebuild without a restart.
Only names that match a plain file name are looked up, and the resolved path must stay inside
`dist/`, so no request path can reach another file.
"""

from __future__ import annotations

import gzip
import json
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import Path

from app.core.config import ROOT

DIST = ROOT / "pwa" / "dist"
"""The PWA's build (`npm run build`, or the image's first stage)."""

# A Vite asset name: letters, digits, dot, dash, underscore; no leading dot, no separator.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$")
_COMPRESSIBLE = (".js", ".css", ".html", ".json", ".svg", ".webmanifest", ".txt", ".map")
BOOT_MARK = "<!--wisp-boot-->"


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    media_type: str
    mtime: float


_files: dict[Path, StaticFile] = {}


def dist_dir() -> Path:
    """`pwa/dist`, or WISP_PWA_DIST: a build kept elsewhere (an image layer; a test's own copy)."""
    override = os.environ.get("WISP_PWA_DIST")
    return Path(override) if override else DIST


def is_built() -> bool:
    return (dist_dir() / "index.html").is_file()


def _load(path: Path) -> StaticFile | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    cached = _files.get(path)
    if cached is not None and cached.mtime == stat.st_mtime:
        return cached
    body = path.read_bytes()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # Litestar adds the charset to text/* itself.
    if not media_type.startswith("text/") and media_type.endswith(("javascript", "json")):
        media_type += "; charset=utf-8"
    gz = gzip.compress(body, 9, mtime=0) if path.name.endswith(_COMPRESSIBLE) else None
    if gz is not None and len(gz) >= len(body):
        gz = None
    found = StaticFile(body, gz, media_type, stat.st_mtime)
    if len(_files) > 500:  # rebuilds leave old hashed names behind in development
        _files.clear()
    _files[path] = found
    return found


def safe_file(folder: str, name: str) -> StaticFile | None:
    """A file directly inside `dist/<folder>` (or `dist/` itself), or None; never outside."""
    if not _NAME_RE.match(name):
        return None
    root = dist_dir().resolve()
    base = (root / folder).resolve() if folder else root
    path = (base / name).resolve()
    if not path.is_relative_to(root) or path.parent != base or not path.is_file():
        return None
    return _load(path)


def _boot_script(data: dict[str, object]) -> str:
    # Escaped so that no value (a tenant name) can close the script element.
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<script id="wisp-boot" type="application/json">{text}</script>'


def render_index(language: str, theme: str, boot: dict[str, object]) -> bytes | None:
    """index.html with the document language, the theme colour and the boot data filled in."""
    page = _load(dist_dir() / "index.html")
    if page is None:
        return None
    html = page.body.decode()
    html = re.sub(r'<html lang="[^"]*"', f'<html lang="{language}"', html, count=1)
    html = re.sub(
        r'<meta name="theme-color" content="[^"]*"',
        f'<meta name="theme-color" content="{theme}"',
        html,
        count=1,
    )
    html = html.replace(BOOT_MARK, _boot_script(boot), 1)
    return html.encode()
