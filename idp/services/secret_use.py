"""When each client secret was last used, kept cheaply: at most one write a minute per secret.

The token endpoint of a busy service sees its secret many times a second; a write per request
would make every token request a database write (and fail them all in a database outage). Each
process remembers when it last stamped a secret and skips the write within a minute; the
UPDATE itself also skips a row stamped within the minute, so many processes add little more.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from idp.domain.clock import utcnow
from idp.services.ports import UnitOfWork

log = logging.getLogger(__name__)

EVERY = timedelta(minutes=1)
MAX_REMEMBERED = 10_000  # secrets this process remembers; beyond that it starts afresh


class SecretUse:
    def __init__(self) -> None:
        self._stamped: dict[str, datetime] = {}

    def note(self, uow: UnitOfWork, digest: str, now: datetime | None = None) -> bool:
        """Stamp the secret with this digest as used now, unless that was done within a minute.
        Best effort: a failed write is logged, never fails the caller's request."""
        now = now or utcnow()
        last = self._stamped.get(digest)
        if last is not None and now - last < EVERY:
            return False
        if len(self._stamped) >= MAX_REMEMBERED:
            self._stamped.clear()
        self._stamped[digest] = now  # also when the write fails: one try a minute in an outage
        try:
            uow.clients.mark_secret_used(digest, now, now - EVERY)
            uow.commit()
        except Exception:  # a last-used date is never worth a failed token request
            log.warning("could not record a client secret's last use", exc_info=True)
            try:
                uow.rollback()
            except Exception:
                log.debug("rollback after a failed last-use write failed too", exc_info=True)
            return False
        return True
