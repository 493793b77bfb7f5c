"""Pruning what can no longer matter, so tables stay the size of the live state.

Each rule keeps a row exactly as long as something could still depend on it: a rotated
refresh token stays until its family's absolute expiry (a replay must still revoke the
family), a used code a day past expiry, a revocation event until every token it covers has
expired. The audit log is never pruned here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from idp.services.ports import UnitOfWork

GRACE = timedelta(days=1)
# A delivered (or given up) mail's record, bodies already blanked, kept for the operator's eye.
MAIL_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class PruneReport:
    authorization_codes: int
    refresh_tokens: int
    access_token_records: int
    device_codes: int
    revocation_events: int
    login_sessions: int
    account_tokens: int = 0
    mail_messages: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def prune(
    uow: UnitOfWork, now: datetime, session_idle_ttl: int, session_absolute_ttl: int
) -> PruneReport:
    with uow:
        rows = uow.pruning
        report = PruneReport(
            authorization_codes=rows.authorization_codes_expired_before(now - GRACE),
            refresh_tokens=rows.refresh_tokens_whose_family_expired_before(now),
            access_token_records=rows.access_token_records_expired_before(now),
            device_codes=rows.device_codes_expired_before(now - GRACE),
            revocation_events=rows.revocation_events_lapsed_before(now),
            login_sessions=rows.login_sessions_idle_or_started_before(
                last_seen=now - timedelta(seconds=session_idle_ttl),
                created=now - timedelta(seconds=session_absolute_ttl),
            ),
            account_tokens=rows.account_tokens_expired_before(now - GRACE),
            mail_messages=rows.mail_messages_done_before(now - MAIL_KEPT),
        )
        uow.commit()
    return report
