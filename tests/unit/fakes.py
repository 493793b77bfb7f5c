"""In-memory test doubles for the account ports."""

from __future__ import annotations

from types import SimpleNamespace


class FakeUserRepository:
    def __init__(self) -> None:
        self.rows: dict[int, object] = {}

    def get(self, user_id):
        return self.rows.get(user_id)

    def by_login(self, login):
        key = login.strip().lower()
        return next((u for u in self.rows.values() if key in (u.username_key, u.email_key)), None)

    def username_taken(self, username):
        return any(u.username_key == username.lower() for u in self.rows.values())

    def email_taken(self, email):
        return any(u.email_key == email.lower() for u in self.rows.values())

    def create(self, **fields):
        user = SimpleNamespace(
            id=len(self.rows) + 1,
            is_admin=False,
            disabled_at=None,
            deleted_at=None,
            external_id=None,
            email_verified=False,
        )
        vars(user).update(fields)
        self.rows[user.id] = user
        return user


class FakeSessionRepository:
    def __init__(self) -> None:
        self.rows: dict[str, object] = {}

    def get(self, digest):
        return self.rows.get(digest)

    def create(self, **fields):
        s = SimpleNamespace(**fields)
        self.rows[s.id_digest] = s
        return s

    def delete(self, digest):
        self.rows.pop(digest, None)

    def delete_for_user(self, user_id, keep=None):
        for digest in [d for d, s in self.rows.items() if s.user_id == user_id and d != keep]:
            del self.rows[digest]

    def touch(self, s, now=None):
        s.last_seen_at = now

    def for_user(self, user_id):
        return [s for s in self.rows.values() if s.user_id == user_id]


class FakeAuditLog:
    def __init__(self) -> None:
        self.events: list = []

    def record(self, **fields):
        self.events.append(SimpleNamespace(**fields))

    def names(self) -> list[str]:
        return [e.event for e in self.events]

    def about_user(self, user_id, limit=1000):
        return [
            e for e in self.events if user_id in (e.user_id, (e.data or {}).get("target_user_id"))
        ][:limit]


class FakeUnitOfWork:
    """The account repositories, plus any others a test passes by name (``grants=...``)."""

    def __init__(self, **repositories) -> None:
        self.users = FakeUserRepository()
        self.sessions = FakeSessionRepository()
        self.audit = FakeAuditLog()
        for name, repository in repositories.items():
            setattr(self, name, repository)
        self.commits = 0
        self.rollbacks = 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.rollback()

    def commit(self):
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1


class FakeHasher:
    """Reversible 'hash' that records how much work each path did."""

    def __init__(self, version: int = 1) -> None:
        self.version = version
        self.verifications = 0

    def hash(self, password):
        return f"v{self.version}:{password}"

    def verify(self, stored, password):
        self.verifications += 1
        return stored.split(":", 1)[1] == password

    def needs_rehash(self, stored):
        return not stored.startswith(f"v{self.version}:")

    def scheme(self, stored):
        return stored.split(":", 1)[0]

    def burn(self, password):
        self.verifications += 1


class FakeThrottle:
    def __init__(self) -> None:
        self.failures: list[tuple[str, str]] = []
        self.wait = 0

    def retry_after(self, login, ip):
        return self.wait

    def record_failure(self, login, ip):
        self.failures.append((login, ip))
