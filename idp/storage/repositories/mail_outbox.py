"""The mail outbox as the use cases see it (idp.services.mail.MailOutbox): compose and keep."""

from __future__ import annotations

from typing import Any

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.mail_templates import composer
from idp.storage.models import MailMessage

# Set in the session when a mail is queued: after its commit, the sender is woken at once.
QUEUED_FLAG = "tessera_mail_queued"


class SqlAlchemyMailOutbox:
    def queue(self, template: str, to: str, **context: Any) -> None:
        mail = composer.compose(template, **context)
        now = utcnow()
        db.session.add(
            MailMessage(
                template=template,
                to_address=to,
                subject=mail.subject,
                body_text=mail.text,
                body_html=mail.html,
                created_at=now,
                next_attempt_at=now,
            )
        )
        db.session.info[QUEUED_FLAG] = True
