"""Translations with Babel's gettext catalogs in `locales/`.

The language of the work at hand lives in a context variable: a request sets it from the user,
then the tenant, then `Accept-Language`; a job sets it from what it is about. `_()` translates
at call time; `lazy()` marks module-level strings that are translated when rendered.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.support import LazyProxy, NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"

_language: contextvars.ContextVar[str] = contextvars.ContextVar(
    "wisp_language", default=DEFAULT_LANGUAGE
)


@functools.cache
def translations(language: str) -> NullTranslations:
    return Translations.load(str(LOCALES_DIR), [language], domain="messages")


def current_language() -> str:
    return _language.get()


def set_language(language: str) -> None:
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


@contextmanager
def use_language(language: str) -> Iterator[None]:
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str) -> str:
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_language.get()).ngettext(singular, plural, n)


_ = gettext


def lazy(message: str) -> LazyProxy:
    return LazyProxy(gettext, message, enable_cache=False)


def parse_accept_language(header: str | None) -> list[str]:
    """Languages we have, best first, from an `Accept-Language` header."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _sep, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return [lang for _q, _i, lang in sorted(ranked)]


def negotiate(user: str | None, tenant: str | None, accept_language: str | None) -> str:
    for choice in (user, tenant):
        if choice in LANGUAGES:
            return choice
    for choice in parse_accept_language(accept_language):
        return choice
    return DEFAULT_LANGUAGE
