"""Development only: the mails the local SMTP catcher received (`make run` without SMTP_HOST)."""

from __future__ import annotations

import html
from pathlib import Path

from litestar import MediaType, get

from app.core.config import get_settings
from app.core.problems import NotFound
from app.core.roles import ANYONE, allow
from app.web.mailbox import list_mails, read_mail


def _dir() -> Path:
    return Path(get_settings().dev_mail_dir)


@get("/dev/mail", media_type=MediaType.HTML, include_in_schema=False, roles=allow(ANYONE))
async def dev_mail_index() -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(m['received_at']))}</td><td>{html.escape(str(m['to']))}</td>"
        f"<td><a href='/dev/mail/{html.escape(str(m['id']))}'>{html.escape(str(m['subject']))}"
        "</a></td></tr>"
        for m in list_mails(_dir())
    )
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>Caught mail</title>"
        "<style>body{font:16px system-ui;margin:2rem}td{padding:.3rem .8rem}</style>"
        "<h1>Mail caught by the development SMTP server</h1>"
        f"<table><tr><th>Received</th><th>To</th><th>Subject</th></tr>{rows}</table></html>"
    )


@get(
    "/dev/mail/{mail_id:str}",
    media_type=MediaType.HTML,
    include_in_schema=False,
    roles=allow(ANYONE),
)
async def dev_mail_message(mail_id: str) -> str:
    message = read_mail(_dir(), mail_id)
    if message is None:
        raise NotFound()
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>{html.escape(str(message['subject']))}</title>"
        "<style>body{font:16px system-ui;margin:2rem}pre{white-space:pre-wrap}</style>"
        f"<p><a href='/dev/mail'>All mail</a></p><h1>{html.escape(str(message['subject']))}</h1>"
        f"<p>From {html.escape(str(message['from']))} to {html.escape(str(message['to']))}</p>"
        f"<pre>{html.escape(str(message['text'] or ''))}</pre></html>"
    )
