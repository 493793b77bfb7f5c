"""Delivering a composed mail: over SMTP (`TESSERA_SMTP_URL`), or as an .eml file.

URL forms (docs/accounts.md):
- `smtp://host:port`: plain SMTP, for a relay on loopback or a private network;
- `smtp+starttls://user:pass@host:587`: STARTTLS is required (a server that does not offer it
  is an error, never a silent fallback to clear text);
- `smtps://user:pass@host:465`: TLS from the first byte.
The user name and password are percent-decoded. Certificates are checked against the
system's CAs (ssl.create_default_context).

Without TESSERA_SMTP_URL, FileTransport writes each mail to `instance/outbox/<id>.eml` (0600
in a 0700 folder: it may hold a reset link) and logs the path, so a developer on `make run`
can open the link.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from idp.domain.smtp_url import parse_smtp_url
from idp.private_files import write_private

log = logging.getLogger(__name__)


class MailDeferred(Exception):
    """Not delivered this time (server down, slow, 4xx): the sender tries again later."""


class MailRejected(Exception):
    """The server refused the recipient for good (5xx): retrying would not help."""


@dataclass(frozen=True)
class OutgoingMail:
    id: int
    to: str
    subject: str
    text: str
    html: str


class MailTransport(Protocol):
    def send(self, mail: OutgoingMail) -> None: ...


def build_message(mail: OutgoingMail, sender: str, domain: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(f"mail{mail.id}", domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


class SmtpTransport:
    def __init__(
        self,
        url: str,
        sender: str,
        domain: str,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.address = parse_smtp_url(url)
        self.sender, self.domain, self.timeout = sender, domain, timeout
        self.tls_context = tls_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        a = self.address
        if a.scheme == "smtps":
            return smtplib.SMTP_SSL(a.host, a.port, timeout=self.timeout, context=self.tls_context)
        smtp = smtplib.SMTP(a.host, a.port, timeout=self.timeout)
        if a.scheme == "smtp+starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                smtp.close()
                raise MailDeferred(f"{a.host}:{a.port} does not offer STARTTLS")
            smtp.starttls(context=self.tls_context)
            smtp.ehlo()
        return smtp

    def send(self, mail: OutgoingMail) -> None:
        message = build_message(mail, self.sender, self.domain)
        try:
            with self._connect() as smtp:
                if self.address.username:
                    smtp.login(self.address.username, self.address.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(500 <= code < 600 for code in codes):
                raise MailRejected(f"recipient refused: {exc.recipients}") from None
            raise MailDeferred(f"recipient deferred: {exc.recipients}") from None
        except (smtplib.SMTPException, OSError) as exc:
            # Includes timeouts, refused connections, TLS failures and 4xx/5xx on MAIL/DATA:
            # the server or our settings, not the address, so a later attempt may succeed.
            raise MailDeferred(f"{type(exc).__name__}: {exc}") from None


class FileTransport:
    """Development: each mail is an .eml file an editor or mail client opens."""

    def __init__(self, folder: Path, sender: str, domain: str) -> None:
        self.folder, self.sender, self.domain = folder, sender, domain

    def send(self, mail: OutgoingMail) -> None:
        message = build_message(mail, self.sender, self.domain)
        path = self.folder / f"{mail.id:06d}.eml"
        try:
            write_private(path, message.as_string())
        except OSError as exc:
            raise MailDeferred(f"cannot write {path}: {exc}") from None
        log.info("mail to %s (%s) written to %s", mail.to, mail.subject, path)
