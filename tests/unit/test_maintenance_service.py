"""`tessera prune` decides how long each kind of row can still matter; storage only deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from idp.services import maintenance
from tests.unit.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakePruning:
    """Answers how many rows each delete would take, and remembers the cutoffs it was given."""

    def __init__(self) -> None:
        self.cutoffs: dict[str, tuple[datetime, ...]] = {}

    def __getattr__(self, name):
        def delete(*moments, **named):
            self.cutoffs[name] = (*moments, *named.values())
            return len(self.cutoffs)

        return delete


def test_prune_keeps_each_row_as_long_as_something_can_depend_on_it():
    uow = FakeUnitOfWork(pruning=FakePruning())
    report = maintenance.prune(uow, NOW, session_idle_ttl=3600, session_absolute_ttl=86400)
    day = timedelta(days=1)
    assert uow.pruning.cutoffs == {
        "authorization_codes_expired_before": (NOW - day,),  # a replay a day late still hits
        "refresh_tokens_whose_family_expired_before": (NOW,),
        "access_token_records_expired_before": (NOW,),
        "device_codes_expired_before": (NOW - day,),
        "revocation_events_lapsed_before": (NOW,),
        "login_sessions_idle_or_started_before": (NOW - timedelta(hours=1), NOW - day),
        "account_tokens_expired_before": (NOW - day,),
        "mail_messages_done_before": (NOW - 7 * day,),  # kept a week, bodies already blanked
    }
    assert report.as_dict() == {
        "authorization_codes": 1,
        "refresh_tokens": 2,
        "access_token_records": 3,
        "device_codes": 4,
        "revocation_events": 5,
        "login_sessions": 6,
        "account_tokens": 7,
        "mail_messages": 8,
    }
    assert uow.commits == 1
