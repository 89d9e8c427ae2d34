"""Reading the mails the development SMTP catcher stored, for the dev-only /dev/mail page.

The catcher (`devtools.services.start_mail_catcher`) files each message as `<UTC stamp>-<hex>.eml`
with the SMTP envelope prepended as X-Envelope-* headers. This module is the only reader, so it
also owns the rule that a mail id from a URL can never name a file outside the mail directory.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TypedDict

# "from" is a keyword, hence the functional syntax.
MailSummary = TypedDict(
    "MailSummary",
    {"id": str, "received_at": datetime, "from": str, "to": str, "subject": str},
)


class MailDetail(MailSummary):
    text: str
    """The text/plain body, decoded; empty when the mail has none."""
    html: str | None


_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_STAMP = "%Y%m%dT%H%M%S%fZ"


def _received_at(path: Path) -> datetime:
    """The arrival time from the file name, which is exact and survives copying the folder;
    the modification time only for files that did not come from the catcher."""
    try:
        return datetime.strptime(path.stem.split("-", 1)[0], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _parse(path: Path, headers_only: bool) -> EmailMessage:
    # policy.default gives EmailMessage with RFC 2047 headers already decoded to str.
    parser = BytesParser(policy=policy.default)
    with path.open("rb") as fh:
        return parser.parse(fh, headersonly=headers_only)


def _header(message: EmailMessage, name: str) -> str:
    """A header as display text, decoded; as written when it does not parse.

    The page exists to debug outgoing mail, so a malformed address must show what was sent
    (policy.default would render `From: <<<broken` as `<>`) and must not take the page down.
    """
    try:
        value = message.get(name)
        if value is None or not getattr(value, "defects", None):
            return "" if value is None else str(value)
    except Exception:  # noqa: S110 - the header parser raises on some malformed input
        pass
    raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), "")
    return " ".join(str(raw).split())


def _summary(path: Path, message: EmailMessage) -> MailSummary:
    return {
        "id": path.stem,
        "received_at": _received_at(path),
        "from": _header(message, "From"),
        # Bcc-only mail has no To header; the envelope still says who would have received it.
        "to": _header(message, "To") or _header(message, "X-Envelope-To"),
        "subject": _header(message, "Subject"),
    }


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError):
        # An unknown or lying charset: show the bytes as best we can rather than nothing.
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _inside(root: Path, path: Path) -> bool:
    """Whether `path` really is a file directly in `root`, symlinks resolved."""
    return path.resolve().parent == root and path.is_file()


def list_mails(mail_dir: Path, limit: int = 50) -> list[MailSummary]:
    """The newest `limit` caught mails, newest first, parsing headers only."""
    root = mail_dir.resolve()
    if not root.is_dir():
        return []
    dated: list[tuple[datetime, str, Path]] = []
    for path in root.glob("*.eml"):
        try:
            if _inside(root, path):
                dated.append((_received_at(path), path.name, path))
        except OSError:  # deleted between listing and looking
            continue
    dated.sort(reverse=True)
    mails: list[MailSummary] = []
    for _, _, path in dated[: max(limit, 0)]:
        try:
            mails.append(_summary(path, _parse(path, headers_only=True)))
        except OSError:
            continue
    return mails


def read_mail(mail_dir: Path, mail_id: str) -> MailDetail | None:
    """One caught mail with its bodies, or None if the id is malformed or unknown.

    The id comes straight from a URL, so it is checked against a strict alphabet and the
    resolved path must still be inside `mail_dir`; no leading dot, so neither `..` nor the
    catcher's in-progress `.tmp` files can be named.
    """
    if not _ID.fullmatch(mail_id):
        return None
    root = mail_dir.resolve()
    path = root / f"{mail_id}.eml"
    if not _inside(root, path):
        return None
    try:
        message = _parse(path, headers_only=False)
    except OSError:
        return None
    summary = _summary(path, message)
    return {
        "id": summary["id"],
        "received_at": summary["received_at"],
        "from": summary["from"],
        "to": summary["to"],
        "subject": summary["subject"],
        "text": _part_text(message, "plain") or "",
        "html": _part_text(message, "html"),
    }
