"""HTML to PDF with WeasyPrint, in the render child process only.

This module is imported by the recycled render processes (see `app.billing.pdf`), never by the
web or worker processes themselves, so they do not carry WeasyPrint's memory.

WeasyPrint's default fetcher opens any URL a document names: an injected
`<link rel=attachment href="file:///etc/passwd">` would embed that file in the PDF, and an
`<img src="http://...">` would make the server call out. `AssetsOnlyFetcher` reaches `data:`
URLs and the files of our assets folder, and nothing else; any other URL stops the render.
"""

from __future__ import annotations

import mimetypes
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

ASSETS_DIR = (Path(__file__).resolve().parent / "templates" / "assets").resolve()
ASSETS_URL = ASSETS_DIR.as_uri() + "/"


class FetchRefused(ValueError):
    """A document asked for a URL outside `data:` and our assets."""


class RenderRefused(Exception):
    """The render stopped because the document asked for a URL it may not fetch."""


def asset_path(url: str) -> Path:
    """The file of our assets folder that a `file:` URL names; FetchRefused for anything else."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise FetchRefused(f"refused to fetch {url[:200]!r}")
    # resolve() follows symlinks and `..`, so a link or a dotted path cannot step outside.
    path = Path(url2pathname(parts.path)).resolve()
    if not path.is_relative_to(ASSETS_DIR) or not path.is_file():
        raise FetchRefused(f"refused to fetch {url[:200]!r}")
    return path


class AssetsOnlyFetcher(URLFetcher):  # type: ignore[misc]
    def __init__(self) -> None:
        # fail_on_errors: a refused URL stops the render instead of being skipped with a
        # warning, so a document that tries it never ships.
        super().__init__(
            allowed_protocols={"data", "file"}, allow_redirects=False, fail_on_errors=True
        )

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].strip().lower()
        if scheme == "data":
            return super().fetch(url, headers)
        path = asset_path(url)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})


def render(html: str) -> bytes:
    """The PDF of an HTML document whose relative URLs point into our assets folder."""
    try:
        document = HTML(string=html, base_url=ASSETS_URL, url_fetcher=AssetsOnlyFetcher())
        pdf: bytes = document.write_pdf()
    except FatalURLFetchingError as exc:
        # A BaseException in WeasyPrint: turn it into an ordinary error the parent can handle.
        raise RenderRefused(str(exc)) from None
    return pdf


def watch_owner(owner_pid: int, interval: float = 1.0) -> None:
    """Initializer of each render process: exit once the process that owns the pool is gone.

    The pool's pipes are shared in a way that a render process never sees its owner die, so
    an owner killed outright (out of memory, SIGKILL) would leave it, and the forkserver it
    came from, running for ever.
    """

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(owner_pid, 0)
            except OSError:  # gone (or the pid is someone else's now)
                os._exit(0)

    threading.Thread(target=watch, name="watch-owner", daemon=True).start()


def child_pid() -> int:
    """The render process's pid (the tests use it to see processes being recycled)."""
    return os.getpid()
