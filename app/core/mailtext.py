"""Text a tenant typed (its company name above all), made safe to put into a plain-text mail.

Mail clients turn anything that looks like an address into a link: `https://…`, `www.…`, and
bare domains such as `free-prizes.example`. Anyone can sign up a tenant, so its name is
attacker-chosen and lands in mails to other people (invitations, invoices). `unlinkable`
defangs what a client would link, the way security reports write addresses (`example[.]com`,
`https[:]//`), and leaves ordinary names alone (`S.A.`, `Net 2.0`, `Wireless & Co`).
"""

from __future__ import annotations

import re
import unicodedata

# Dots a resolver (IDNA) treats as ".", though a mail client may not: normalised first, so a
# name cannot slip a domain through as `example。com`.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# A dot between a letter, digit or hyphen and two or more letters: a domain label follows.
_DOMAIN_DOT = re.compile(r"(?<=[\w-])\.(?=[^\W\d_]{2})")


def unlinkable(text: str) -> str:
    """`text` with every would-be link broken: `evil.example` → `evil[.]example`,
    `http://x` → `http[:]//x`; control characters (new lines in a subject) become spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_DOTS)
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    text = text.replace("://", "[:]//")
    text = re.sub(r"(?i)\b(mailto|tel|sms|callto|javascript|data):", r"\1[:]", text)
    return _DOMAIN_DOT.sub("[.]", text)
