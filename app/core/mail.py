"""Outgoing mail over SMTP. Called after commit (from jobs), never inside a transaction."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from app.core.config import get_settings


def build(
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> EmailMessage:
    settings = get_settings()
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=settings.base_domain)
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for filename, mime, content in attachments or []:
        maintype, subtype = mime.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


def _send(message: EmailMessage) -> None:
    settings = get_settings()
    with smtplib.SMTP(settings.smtp_host or "127.0.0.1", settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_user:
            smtp.starttls()
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


async def send(message: EmailMessage) -> None:
    await asyncio.to_thread(_send, message)
