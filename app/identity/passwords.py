"""Password hashing (argon2id) and the rules a new password must meet."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.core.i18n import _

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

MIN_LENGTH = 10
MAX_LENGTH = 256

# A hash of a random password, verified when the email is unknown so that both failures cost
# the same time and say the same thing.
_DUMMY_HASH = _hasher.hash("wisp-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        _verify_dummy(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _verify_dummy(password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password)


async def hash_password_async(password: str) -> str:
    """Argon2 takes ~100 ms of CPU on purpose: keep it off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(line.strip().lower() for line in path.read_text().splitlines() if line.strip())


def password_problem(password: str, *context: str) -> str | None:
    """Why this password is refused, translated, or None when it is acceptable.

    `context` holds the user's own words (email, company name, slug) that a password must not
    simply repeat.
    """
    if len(password) < MIN_LENGTH:
        return _("Use at least 10 characters.")
    if len(password) > MAX_LENGTH:
        return _("Use at most 256 characters.")
    lowered = password.lower()
    if lowered in _common_passwords() or lowered.rstrip("0123456789!.") in _common_passwords():
        return _("This password is too common. Choose one that is harder to guess.")
    if len(set(lowered)) < 4:
        return _("This password repeats too few different characters.")
    for word in context:
        word = word.lower().strip()
        if len(word) >= 4:
            local = word.split("@")[0]
            if lowered in {word, local} or (
                len(local) >= 4 and local in lowered and len(lowered) - len(local) < 4
            ):
                return _("The password must not be your email or company name.")
    return None
