"""A real SMTP server on loopback (aiosmtpd) for the mail tests: it keeps what it receives.

`stop()` then `start()` on the same port plays a mail server that goes down and comes back.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.mail_helpers import LINK_RE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.inbox = _Inbox()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def start(self) -> SmtpServer:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first `count` messages, once they have arrived (an event, not a sleep)."""
        with self.inbox.arrived:
            self.inbox.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        assert len(self.messages) >= count, f"{len(self.messages)} of {count} mails arrived"
        return self.messages[:count]


def body_text(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def body_html(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def link_in(message: EmailMessage) -> str:
    found = LINK_RE.search(body_text(message))
    assert found, f"no link in {body_text(message)!r}"
    return found.group(0)
