"""TESSERA_SMTP_URL, parsed (the forms: idp.storage.smtp_mailer, docs/accounts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SCHEMES = ("smtp", "smtp+starttls", "smtps")
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpAddress:
    scheme: str
    host: str
    port: int
    username: str
    password: str


def parse_smtp_url(url: str) -> SmtpAddress:
    """Raises ValueError naming what is wrong (idp.config turns it into a ConfigError)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    if not parts.hostname:
        raise ValueError("a host is required, e.g. smtp://127.0.0.1:2525")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("the port must be a number") from None
    return SmtpAddress(
        parts.scheme,
        parts.hostname,
        port,
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )
