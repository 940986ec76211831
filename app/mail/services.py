"""Queue a message with the action that causes it; send the queue afterwards.

Sending is SMTP when ``PHOTOGATE_SMTP_URL`` is set (``smtp://`` plain, ``smtp+starttls://``
or ``smtps://``, with an optional user and ``PHOTOGATE_SMTP_PASSWORD_FILE``), otherwise
each message is written as an ``.eml`` file under ``var/mail/`` (the embedded default has
no mail server; a developer reads the files). A message that fails is retried by later
runs up to :data:`MAX_ATTEMPTS` times, and every failure is logged without its body (it
may hold a one-time code).

The queue is sent right after the request that filled it (``runtime.enqueue``: inline in
the embedded default, by the worker otherwise) and by every housekeeping run.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.mail.models import OutgoingMail

if TYPE_CHECKING:
    from app.config import Settings
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
SMTP_TIMEOUT = 10.0
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+")


def is_address(text: str | None) -> bool:
    """Whether ``text`` is one plain e-mail address (a roster contact may be a phone)."""
    return bool(text) and len(text or "") <= 320 and _ADDRESS.fullmatch(text or "") is not None


def masked(address: str) -> str:
    """``k***@example.com``: enough for the family to recognise, not to read off a screen."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def queue_mail(
    session: Session, *, kind: str, to: str, subject: str, body: str, now: dt.datetime
) -> OutgoingMail:
    """Put a message in the outbox (flushed); it goes once the caller commits."""
    if not is_address(to):
        raise ValueError("not an e-mail address")
    message = OutgoingMail(
        kind=kind[:32], to_address=to, subject=subject[:200], body=body, created_at=now
    )
    session.add(message)
    session.flush()
    return message


class Transport(Protocol):
    def send(self, message: EmailMessage, row: OutgoingMail) -> None: ...


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    mode: str  # "plain", "starttls" or "ssl"
    username: str = ""
    password: str = ""

    def send(self, message: EmailMessage, row: OutgoingMail) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.mode == "ssl":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        with client:
            if self.mode == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)


@dataclass(frozen=True)
class FileTransport:
    """The development outbox: one ``.eml`` file a message, readable by its owner only."""

    directory: Path

    def send(self, message: EmailMessage, row: OutgoingMail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{row.id:08d}-{row.kind.replace('.', '-')}.eml"
        path.write_bytes(bytes(message))
        path.chmod(0o600)


def transport_for(settings: Settings) -> Transport:
    if not settings.smtp_url:
        return FileTransport(settings.var_dir / "mail")
    parts = urlsplit(settings.smtp_url)
    mode = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "ssl"}[parts.scheme]
    default_port = {"plain": 25, "starttls": 587, "ssl": 465}[mode]
    password = (
        settings.smtp_password_file.read_text().strip() if settings.smtp_password_file else ""
    )
    return SmtpTransport(
        host=parts.hostname or "localhost",
        port=parts.port or default_port,
        mode=mode,
        username=unquote(parts.username or ""),
        password=password,
    )


def _message(row: OutgoingMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = formatdate(row.created_at.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain="photogate")
    message.set_content(row.body)
    return message


def deliver_pending(runtime: Runtime, *, limit: int = 50) -> int:
    """Send what the outbox holds (oldest first); returns how many went."""
    transport = transport_for(runtime.settings)
    database = runtime.database
    with database.session_scope(write=False) as session:
        ids = list(
            session.scalars(
                select(OutgoingMail.id)
                .where(OutgoingMail.sent_at.is_(None), OutgoingMail.attempts < MAX_ATTEMPTS)
                .order_by(OutgoingMail.id)
                .limit(limit)
            )
        )
    sent = 0
    for message_id in ids:
        with database.session_scope() as session:
            row = session.get(OutgoingMail, message_id)
            if row is None or row.sent_at is not None:
                continue
            try:
                transport.send(_message(row, runtime.settings.mail_from), row)
            except (OSError, smtplib.SMTPException) as error:
                row.attempts += 1
                row.last_error = f"{type(error).__name__}: {error}"[:200]
                logger.warning(
                    "mail %s (%s) not sent, attempt %d: %s",
                    row.id,
                    row.kind,
                    row.attempts,
                    type(error).__name__,
                )
                continue
            row.sent_at = runtime.now()
            row.attempts += 1
            sent += 1
    return sent


def deliver_mail(runtime: Runtime) -> None:
    """The job queued after a request that wrote mail."""
    deliver_pending(runtime)
