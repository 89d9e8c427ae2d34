"""The input policy: what the API accepts as text, numbers and JSON, decided in one module.

- **Text** (`check_text`): control characters are refused wherever text comes in, NUL above all
  (PostgreSQL cannot store it, and a name with a NUL or an escape sequence is never what a
  person meant). Tab, line feed and carriage return pass only in fields declared multi-line
  (`Note`). `app.web.input_guard` applies it to every JSON body, query and path parameter before
  a handler runs, and answers a 422 naming the field.
- **Lengths and ranges** are declared on the schemas with the types below (msgspec `Meta`), so
  msgspec enforces them while decoding, the OpenAPI document states them, and
  `app.core.problems.handle_validation` translates the refusal. Decimal strings are bounded to what
  their NUMERIC column holds.
- **Unicode** is normalised to NFC in fields declared so (names, emails: `Input`), so the same
  visible text is the same stored text and compares equal.
- **JSON bodies** are bounded in size (Litestar's `request_max_body_size`, a 413) and in depth
  (`json_too_deep`, on the raw bytes, before any parser recurses through them).

Whatever slips past all that and still does not fit a column is answered with a 422 by
`app.core.problems` (PostgreSQL's data exceptions), never a 500.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from typing import Annotated, Any

import msgspec

from app.core.i18n import _

# Text ----------------------------------------------------------------------------------------

# C0 and C1 control characters and DEL; lone surrogates cannot be encoded to UTF-8 at all.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, but tab, line feed and carriage return are text in a multi-line field.
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(value: str, multiline: bool = False) -> str | None:
    """A translated reason why `value` is refused as text, or None when it is fine."""
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value) is None:
        return None
    if multiline:
        return _("Control characters (such as NUL) are not allowed here.")
    return _("Control characters (such as NUL, tabs or line breaks) are not allowed here.")


def printable(value: str) -> str:
    """`value` with each control character shown as `?` (to name a field that holds one)."""
    return _CONTROL.sub("?", value)


def nfc(value: str) -> str:
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


# What a schema field declares beyond its length (read by the guard and by `Input`).
MULTILINE = "multiline"
NFC = "nfc"

# Types for request schemas ------------------------------------------------------------------

Email = Annotated[str, msgspec.Meta(max_length=320, extra={NFC: True})]
PersonName = Annotated[str, msgspec.Meta(max_length=200, extra={NFC: True})]
"""A person's or a company's name."""
Name = Annotated[str, msgspec.Meta(max_length=120, extra={NFC: True})]
"""What a thing is called: a site, an access point, a plan, a gateway."""
ShortName = Annotated[str, msgspec.Meta(max_length=100, extra={NFC: True})]
"""What a credential is called: an API token, a passkey."""
Secret = Annotated[str, msgspec.Meta(max_length=1024)]
"""A password or a token: checked for control characters, never normalised (it is hashed as
typed), bounded so hashing stays cheap; the password rules say more."""
Code = Annotated[str, msgspec.Meta(max_length=40)]
"""A value from a short list (a role, a kind, a reason, a language, a currency)."""
Id = Annotated[str, msgspec.Meta(max_length=64)]
"""A resource id (a UUID); a malformed one is a 404 or a 422 from the action."""
Moment = Annotated[str, msgspec.Meta(max_length=64)]
"""An ISO 8601 date or timestamp, parsed by the action."""
Line = Annotated[str, msgspec.Meta(max_length=300)]
"""One line of free text: an address, a caption."""
Reason = Annotated[str, msgspec.Meta(max_length=500)]
"""Why something was done, in one line (it is printed on documents and in lists)."""
Note = Annotated[str, msgspec.Meta(max_length=5000, extra={MULTILINE: True})]
"""Free text over several lines."""
ShortNote = Annotated[str, msgspec.Meta(max_length=500, extra={MULTILINE: True})]
"""A remark over a few lines, kept beside a status change."""
Machine = Annotated[str, msgspec.Meta(max_length=300, extra={MULTILINE: True})]
"""Text a gateway agent reports (an error from a tool may span lines)."""

# Decimal strings, bounded to their columns (a JSON number is refused: a float has already
# lost the cents). NUMERIC(p, s) holds p - s digits before the point.
MONEY_PATTERN = r"^-?[0-9]{1,10}(\.[0-9]{1,4})?$"
PRICE_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,4})?$"
RATE_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,4})?$"
Money = Annotated[str, msgspec.Meta(pattern=MONEY_PATTERN, examples=["15.00"])]
"""An amount of money: NUMERIC(14, 4)."""
Price = Annotated[str, msgspec.Meta(pattern=PRICE_PATTERN, examples=["15.00"])]
"""A price on a rate plan: NUMERIC(12, 4)."""
Rate = Annotated[str, msgspec.Meta(pattern=RATE_PATTERN, examples=["16.00"])]
"""A percentage or a fraction: NUMERIC(7, 4)."""

DECIMAL_DIGITS = {MONEY_PATTERN: 10, PRICE_PATTERN: 8, RATE_PATTERN: 3}
"""The digits before the point each decimal pattern allows (for its error message)."""

Kbps = Annotated[int, msgspec.Meta(ge=0, le=2_147_483_647)]
"""A speed in kb/s, or any count stored as INTEGER."""
SmallInt = Annotated[int, msgspec.Meta(ge=-2_147_483_648, le=2_147_483_647)]
"""A whole number stored as INTEGER (the action checks its real range)."""
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]


# Normalisation -----------------------------------------------------------------------------


@functools.cache
def _declared(cls: type[msgspec.Struct], flag: str) -> tuple[str, ...]:
    """The attribute names of `cls`'s fields whose type declares `flag` (e.g. NFC)."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(f.name for f in info.fields if _flagged(f.type, flag))


def _flagged(node: msgspec.inspect.Type, flag: str) -> bool:
    if isinstance(node, msgspec.inspect.Metadata):
        return bool((node.extra or {}).get(flag)) or _flagged(node.type, flag)
    if isinstance(node, msgspec.inspect.UnionType):
        return any(_flagged(t, flag) for t in node.types)
    return False


def declares(node: msgspec.inspect.Type, flag: str) -> bool:
    """Whether a field's type (as msgspec.inspect describes it) declares `flag`."""
    return _flagged(node, flag)


class Input(msgspec.Struct):
    """Base of request bodies: fields declared NFC (names, emails) arrive normalised."""

    def __post_init__(self) -> None:
        for name in _declared(type(self), NFC):
            value: Any = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, nfc(value))


# JSON ----------------------------------------------------------------------------------------

MAX_JSON_DEPTH = 32
"""Deeper than any body the API takes (a passkey's is 3 levels), far below the recursion limit."""

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
# +1 for an opening bracket, -1 for a closing one, as a lookup table for `map`.
_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


@functools.cache
def _openers(limit: int) -> re.Pattern[bytes]:
    return re.compile(rb"[\[{]{%d}" % (limit + 1))


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` nests arrays and objects deeper than `limit`, found without parsing it.

    Brackets inside strings do not count. Most bodies hold fewer brackets than the limit and
    are answered by two counts; the others by passes in C, never a Python loop over the body:
    escaped backslashes and quotes are dropped (left to right, as JSON reads them), so every
    quote left opens or closes a string; then only brackets and quotes are kept, and adjacent
    quote pairs dropped (an empty string, or the nothing between two strings: either way no
    bracket changes sides), which leaves quotes only around the rare strings holding brackets;
    then the running depth of the brackets outside strings.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[::2])
    if _openers(limit).search(brackets):  # the usual attack: a run of openers
        return True
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


_MAY_HOLD_CONTROL = re.compile(rb"[\\\x7f]|\xc2[\x80-\x9f]")


def may_hold_control(body: bytes) -> bool:
    """Whether a JSON document could hold a control character in a string.

    Valid JSON carries C0 characters only as escapes (after a backslash), DEL raw, and C1
    characters raw as `\\xc2\\x80`…`\\xc2\\x9f` in UTF-8; a body with none of those needs no
    walk (most bodies: plain text, accents, ñ, ¿ and ¡ included).
    """
    return _MAY_HOLD_CONTROL.search(body) is not None
