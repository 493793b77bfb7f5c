"""In-memory doubles for the mail ports (idp.services.mail)."""

from __future__ import annotations

from types import SimpleNamespace

from tests.unit.fakes import FakeUnitOfWork
from tests.unit.fakes_tokens import FakeRevocationLog


class FakeMailOutbox:
    def __init__(self) -> None:
        self.queued: list[SimpleNamespace] = []

    def queue(self, template, to, **context):
        self.queued.append(SimpleNamespace(template=template, to=to, **context))

    def templates(self) -> list[str]:
        return [m.template for m in self.queued]


class FakeAccountTokens:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []

    def create(self, **fields):
        token = SimpleNamespace(
            **{"id": len(self.rows) + 1, "used_at": None, "new_email": None, **fields}
        )
        self.rows.append(token)
        return token

    def by_digest(self, digest):
        return next((t for t in self.rows if t.digest == digest), None)

    def claim(self, purpose, digest, now):
        token = self.by_digest(digest)
        if token is None or token.purpose != purpose or token.used_at or token.expires_at <= now:
            return None
        token.used_at = now
        return token

    def void_for_user(self, user_id, purpose, now):
        live = [t for t in self.rows if t.user_id == user_id and t.purpose == purpose]
        for token in live:
            token.used_at = token.used_at or now
        return len(live)


class FakeActionThrottle:
    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.hits: list[tuple[str, dict]] = []

    def _count(self, action, keys):
        return sum(
            1 for a, k in self.hits if a == action and any(k.get(n) == v for n, v in keys.items())
        )

    def retry_after(self, action, **keys):
        return 60 if self._count(action, keys) >= self.limit else 0

    def hit(self, action, **keys):
        self.hits.append((action, keys))


class FakeGrants:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []

    def active_for_user(self, user_id):
        return [g for g in self.rows if g.user_id == user_id and g.revoked_at is None]


class FakeRefreshTokens:
    def __init__(self) -> None:
        self.revoked_grants: list[int] = []

    def revoke_for_grant(self, grant_pk, now):
        self.revoked_grants.append(grant_pk)


def mail_uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(
        mail=FakeMailOutbox(),
        account_tokens=FakeAccountTokens(),
        grants=FakeGrants(),
        refresh_tokens=FakeRefreshTokens(),
        revocations=FakeRevocationLog(),
    )
