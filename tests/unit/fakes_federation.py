"""In-memory upstream account links (idp.services.ports.UpstreamLinkRepository)."""

from __future__ import annotations

from types import SimpleNamespace


class FakeUpstreamLinkRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []

    def by_subject(self, provider, subject):
        return next((r for r in self.rows if (r.provider, r.subject) == (provider, subject)), None)

    def of_user(self, user_id, provider):
        return next((r for r in self.rows if (r.user_id, r.provider) == (user_id, provider)), None)

    def for_user(self, user_id):
        return [r for r in self.rows if r.user_id == user_id]

    def create(self, **fields):
        row = SimpleNamespace(id=len(self.rows) + 1, username="", email="", last_used_at=None)
        vars(row).update(fields)
        self.rows.append(row)
        return row

    def delete(self, row):
        self.rows.remove(row)
