"""Reading Tessera's mail in tests: from the real SMTP server, or straight from the outbox."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import MailMessage

LINK_RE = re.compile(r"https?://\S+/(?:password/reset|email/verify|email/change)/[\w-]+")


def deliver(app) -> int:
    """One round of the app's mail sender, as its thread would run it; how many were sent."""
    with app.app_context():
        try:
            return app.extensions["tessera"].mail_sender.run_once(db.engine)
        finally:
            db.session.remove()


def outbox(app) -> list[MailMessage]:
    with app.app_context():
        rows = list(db.session.scalars(select(MailMessage).order_by(MailMessage.id)))
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
    return rows


def queued_link(app, to: str) -> str:
    """The link in the newest mail queued for `to`, read before the sender blanks it."""
    mails = [m for m in outbox(app) if m.to_address == to and m.body_text]
    assert mails, f"no pending mail to {to}"
    found = LINK_RE.search(mails[-1].body_text)
    assert found, mails[-1].body_text
    return found.group(0)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]
