"""Random single-use secrets (invitations, password resets, API tokens): only hashes are stored.

The tokens carry 256 random bits, so a plain sha256 is enough (no salt or slow hash is needed
against guessing); rows are found by the hash and the match is confirmed in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_TOKEN_PREFIX = "wisp_"  # noqa: S105  (a public prefix, not a secret)
MAX_TOKEN_LENGTH = 128


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token(prefix: str = "") -> tuple[str, str]:
    """A fresh token and its hash; the token is shown or mailed once, the hash is stored."""
    raw = prefix + secrets.token_urlsafe(32)
    return raw, token_hash(raw)


def matches(raw: str, stored_hash: str | None) -> bool:
    return stored_hash is not None and hmac.compare_digest(token_hash(raw), stored_hash)


def plausible(raw: str) -> bool:
    """Cheap shape check before any lookup: a token is short, printable ASCII."""
    return 0 < len(raw) <= MAX_TOKEN_LENGTH and raw.isascii() and raw.isprintable()
