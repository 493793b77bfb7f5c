"""The one mail sender: delivers the outbox after commit, retries with backoff, never blocks a page.

Every `tessera serve` worker runs a MailSender thread; only the holder of the lease (a row in
`mail_sender_lease`, taken or renewed by one conditional UPDATE) sends, so one sender is active
across workers and instances. Why a lease row rather than a PostgreSQL advisory lock or a Redis
lock: it works the same on SQLite, needs no Redis, and a holder that dies (killed worker, lost
host) simply lets it lapse after LEASE_TTL, when another process takes over.

A commit that queued mail wakes this process's thread at once (the hook at the bottom); when
another process holds the lease, its next poll (POLL_INTERVAL) sends it. Delivery is at least
once: a holder killed between the SMTP server's "250 OK" and its own UPDATE leaves the mail
pending, and the next holder sends it again; a duplicate mail is better than a lost link.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from idp.domain.clock import utcnow
from idp.storage.models import MailMessage, MailSenderLease
from idp.storage.repositories.mail_outbox import QUEUED_FLAG
from idp.storage.smtp_mailer import MailDeferred, MailRejected, MailTransport, OutgoingMail

log = logging.getLogger(__name__)

LEASE_NAME = "mail"
LEASE_TTL = timedelta(seconds=60)  # renewed before each mail; longer than one SMTP timeout
POLL_INTERVAL = 2.0
BATCH = 20
FIRST_RETRY = timedelta(seconds=15)
MAX_RETRY = timedelta(minutes=30)
# A mail still undelivered after this long is given up (logged): its links have expired anyway.
MAX_AGE = timedelta(days=2)

_mail = MailMessage.__table__
_lease = MailSenderLease.__table__


def retry_delay(attempts: int) -> timedelta:
    """15 s, 30 s, 1 min, 2 min ... capped at 30 min."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


class MailSender:
    def __init__(self, transport: MailTransport, *, interval: float = POLL_INTERVAL) -> None:
        self.transport, self.interval = transport, interval
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the lease ------------------------------------------------------------------------

    def hold_lease(self, engine: Engine, now: datetime) -> bool:
        """Take the lease, or renew it when held; False while another live sender holds it."""
        with engine.begin() as conn:
            if _renew(conn, self.holder, now):
                return True
            if conn.execute(select(_lease.c.name).where(_lease.c.name == LEASE_NAME)).first():
                return False
        try:  # no row yet (a fresh database): the first insert wins
            with engine.begin() as conn:
                conn.execute(
                    _lease.insert().values(
                        name=LEASE_NAME, holder=self.holder, expires_at=now + LEASE_TTL
                    )
                )
        except IntegrityError:
            return False
        return True

    def release(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(
                _lease.update()
                .where(_lease.c.name == LEASE_NAME, _lease.c.holder == self.holder)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )

    # --- sending --------------------------------------------------------------------------

    def run_once(self, engine: Engine) -> int:
        """Send what is due, if this process holds the lease; how many were delivered."""
        with self._lock:
            try:
                return self._send_due(engine)
            except SQLAlchemyError as exc:  # a database outage: the next round retries
                log.warning("mail sender: database unavailable, retrying later: %s", exc)
                return 0

    def _send_due(self, engine: Engine) -> int:
        due_now = (_mail.c.status == "pending", _mail.c.next_attempt_at <= utcnow())
        with engine.connect() as conn:  # idle: one read, and no write, per poll
            if conn.execute(select(_mail.c.id).where(*due_now).limit(1)).first() is None:
                return 0
        if not self.hold_lease(engine, utcnow()):
            return 0
        with engine.connect() as conn:
            due = conn.execute(
                select(_mail.c.id, _mail.c.to_address, _mail.c.subject)
                .add_columns(_mail.c.body_text, _mail.c.body_html, _mail.c.attempts)
                .add_columns(_mail.c.created_at)
                .where(*due_now)
                .order_by(_mail.c.id)
                .limit(BATCH)
            ).all()
        sent = 0
        for row in due:
            if not self.hold_lease(engine, utcnow()):
                break  # another sender took over (we were too slow): it carries on
            sent += self._deliver(engine, row)
        return sent

    def _deliver(self, engine: Engine, row: Any) -> int:
        mail = OutgoingMail(row.id, row.to_address, row.subject, row.body_text, row.body_html)
        attempts = row.attempts + 1
        try:
            self.transport.send(mail)
        except MailRejected as exc:
            log.error("mail %s to %s refused for good: %s", row.id, row.to_address, exc)
            _finish(engine, row.id, "failed", attempts, str(exc))
            return 0
        except MailDeferred as exc:
            now = utcnow()
            if now - row.created_at > MAX_AGE:
                log.error(
                    "mail %s to %s given up after %s attempts", row.id, row.to_address, attempts
                )
                _finish(engine, row.id, "failed", attempts, str(exc))
            else:
                log.warning("mail %s to %s deferred (attempt %s): %s", row.id, row.to_address,
                            attempts, exc)  # fmt: skip
                _defer(engine, row.id, attempts, now + retry_delay(attempts), str(exc))
            return 0
        _finish(engine, row.id, "sent", attempts, "")
        return 1

    # --- the thread -----------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self, engine: Engine) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(engine,), name="tessera-mail-sender", daemon=True
        )
        self._thread.start()

    def stop(self, engine: Engine | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        if engine is not None:
            with contextlib.suppress(SQLAlchemyError):  # else it lapses by itself
                self.release(engine)

    def _run(self, engine: Engine) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._stop.is_set():
                self.run_once(engine)


def _renew(conn: Connection, holder: str, now: datetime) -> bool:
    return bool(
        conn.execute(
            _lease.update()
            .where(
                _lease.c.name == LEASE_NAME,
                or_(_lease.c.holder == holder, _lease.c.expires_at < now),
            )
            .values(holder=holder, expires_at=now + LEASE_TTL)
        ).rowcount
    )


def _finish(engine: Engine, mail_id: int, status: str, attempts: int, error: str) -> None:
    """Sent or given up: the bodies go (they may hold a one-time link), the record stays."""
    with engine.begin() as conn:
        conn.execute(
            _mail.update()
            .where(_mail.c.id == mail_id)
            .values(
                status=status,
                attempts=attempts,
                sent_at=utcnow() if status == "sent" else None,
                body_text="",
                body_html="",
                last_error=error[:500],
            )
        )


def _defer(engine: Engine, mail_id: int, attempts: int, at: datetime, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            _mail.update()
            .where(_mail.c.id == mail_id)
            .values(attempts=attempts, next_attempt_at=at, last_error=error[:500])
        )


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(QUEUED_FLAG, None) and has_app_context():
        sender = getattr(current_app.extensions.get("tessera"), "mail_sender", None)
        if sender is not None:
            sender.wake()


@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop(QUEUED_FLAG, None)
