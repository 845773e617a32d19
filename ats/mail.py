"""Outgoing mail (erasure notices) over SMTP at ``ATS_SMTP_URL``: ``smtp://[user:pass@]host:port`` or ``smtps://``."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import unquote, urlparse

import aiosmtplib

from .errors import ServiceUnavailable
from .settings import Settings


class MailNotConfigured(ServiceUnavailable):
    code, title = "mail_not_configured", "Mail is not configured"


async def send(settings: Settings, *, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; any SMTP failure is a 503 so the caller can stop before acting."""
    if not settings.smtp_url:
        raise MailNotConfigured("Notification requested but ATS_SMTP_URL is not set")
    url = urlparse(settings.smtp_url)
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        await aiosmtplib.send(
            message,
            hostname=url.hostname or "localhost",
            port=url.port or (465 if url.scheme == "smtps" else 25),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            use_tls=url.scheme == "smtps",
            start_tls=False if url.scheme == "smtps" else None,
            timeout=10,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ServiceUnavailable(f"The mail server did not accept the message ({type(exc).__name__})") from None


class Mailer:
    """Sends with the SMTP settings it was made with: what a service needs of them, and no more."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, *, to: str, subject: str, body: str) -> None:
        await send(self._settings, to=to, subject=subject, body=body)


def erasure_notice(name: str) -> tuple[str, str]:
    """Subject and body telling an applicant their data is being erased."""
    subject = "Your application data is being deleted"
    body = (
        f"Dear {name},\n\n"
        "as requested or required by our retention policy, we are deleting your application and every\n"
        "document and note we hold about it. You do not need to do anything.\n\n"
        "This is an automated message.\n"
    )
    return subject, body
