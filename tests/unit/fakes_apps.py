"""In-memory test doubles for app management's ports (apps, members, requests, logos, grants)."""

from __future__ import annotations

from types import SimpleNamespace

from idp.domain.clock import utcnow
from tests.unit.fakes import FakeUnitOfWork


class FakeClientRepository:
    def __init__(self, members: FakeMemberRepository) -> None:
        self.rows: dict[int, SimpleNamespace] = {}
        self._members = members

    def create(self, **fields):
        now = utcnow()
        client = SimpleNamespace(
            id=len(self.rows) + 1,
            secrets=[],
            custom_rps=None,
            custom_burst=None,
            verified=False,
            suspended_at=None,
            suspended_reason="",
            created_at=now,
            updated_at=now,
            **fields,
        )
        self.rows[client.id] = client
        return client

    def add_secret(self, client, digest, created_at=None, last4=None):
        secret_id = sum(len(c.secrets) for c in self.rows.values()) + 1
        created = created_at or utcnow()
        client.secrets.append(
            SimpleNamespace(
                id=secret_id,
                digest=digest,
                created_at=created,
                expires_at=None,
                last4=last4,
                last_used_at=None,
            )
        )

    def mark_secret_used(self, digest, now, not_since):
        stamped = 0
        for client in self.rows.values():
            for s in client.secrets:
                if s.digest == digest and (s.last_used_at is None or s.last_used_at < not_since):
                    s.last_used_at, stamped = now, stamped + 1
        return stamped

    def remove_secret(self, client, secret):
        client.secrets.remove(secret)

    def get(self, pk):
        return self.rows.get(pk)

    def by_client_id(self, client_id):
        return next((c for c in self.rows.values() if c.client_id == client_id), None)

    def delete(self, client):
        del self.rows[client.id]

    def all(self):
        return list(self.rows.values())

    def visible_to(self, user_id):
        return [c for c in self.rows.values() if self._sees(c, user_id)]

    def visible_by_client_id(self, user_id, client_id):
        client = self.by_client_id(client_id)
        return client if client is not None and self._sees(client, user_id) else None

    def owned_by(self, user_id):
        return [c for c in self.rows.values() if c.owner_id == user_id]

    def _sees(self, client, user_id):
        return client.owner_id == user_id or self._members.role(client.id, user_id) is not None


class FakeInvitationRepository:
    def __init__(self, clients_of) -> None:
        self.rows: list[SimpleNamespace] = []
        self._clients_of = clients_of  # called late: the client repository is built after this
        self._next = 1

    def create(self, **fields):
        row = SimpleNamespace(id=self._next, **fields)
        self._next += 1
        self.rows.append(row)
        return row

    def get(self, invitation_id):
        return next((r for r in self.rows if r.id == invitation_id), None)

    def pending(self, client_pk, user_id):
        return next(
            (r for r in self.rows if (r.client_pk, r.user_id) == (client_pk, user_id)), None
        )

    def for_user(self, user_id):
        clients = self._clients_of()
        return [(r, clients.get(r.client_pk), None) for r in self.rows if r.user_id == user_id]

    def delete(self, row):
        self.rows.remove(row)


class FakeMemberRepository:
    def __init__(self, users) -> None:
        self.rows: list[SimpleNamespace] = []
        self._users = users

    def role(self, client_pk, user_id):
        return next(
            (m.role for m in self.rows if (m.client_pk, m.user_id) == (client_pk, user_id)), None
        )

    def of_client(self, client_pk):
        found = [
            (self._users.get(m.user_id), m.role) for m in self.rows if m.client_pk == client_pk
        ]
        return sorted(found, key=lambda pair: pair[0].username_key)

    def create(self, **fields):
        self.rows.append(SimpleNamespace(**fields))

    def remove(self, client_pk, user_id):
        before = len(self.rows)
        self.rows = [m for m in self.rows if (m.client_pk, m.user_id) != (client_pk, user_id)]
        return len(self.rows) < before


class FakeAccessRequestRepository:
    def __init__(self) -> None:
        self.rows: dict[int, SimpleNamespace] = {}

    def create(self, **fields):
        defaults = dict(
            id=len(self.rows) + 1,
            status="pending",
            scopes=[],
            tier="",
            from_tier="",
            decided_by=None,
            decided_at=None,
            reason="",
            created_at=utcnow(),
        )
        row = SimpleNamespace(**{**defaults, **fields})
        self.rows[row.id] = row
        return row

    def get(self, request_id):
        return self.rows.get(request_id)

    def pending_for_client(self, client_pk):
        return [r for r in self.rows.values() if r.client_pk == client_pk and r.status == "pending"]

    def for_client(self, client_pk):
        return [r for r in self.rows.values() if r.client_pk == client_pk]


class FakeLogoRepository:
    def __init__(self) -> None:
        self.rows: dict[int, SimpleNamespace] = {}

    def get(self, client_pk):
        return self.rows.get(client_pk)

    def create(self, **fields):
        self.rows[fields["client_pk"]] = SimpleNamespace(**fields)


class FakeGrantRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []

    def add(self, client_pk, user_id, gid):
        grant = SimpleNamespace(
            id=len(self.rows) + 1, client_pk=client_pk, user_id=user_id, gid=gid, revoked_at=None
        )
        self.rows.append(grant)
        return grant

    def active_for_client(self, client_pk):
        return [g for g in self.rows if g.client_pk == client_pk and g.revoked_at is None]

    def active_for_user(self, user_id):
        return [g for g in self.rows if g.user_id == user_id and g.revoked_at is None]


class FakeRefreshTokens:
    """Remembers which grants and apps had their refresh tokens revoked."""

    def __init__(self) -> None:
        self.revoked_grants: list[int] = []
        self.revoked_clients: list[int] = []

    def revoke_for_grant(self, grant_pk, now):
        self.revoked_grants.append(grant_pk)

    def revoke_for_client(self, client_pk, now):
        self.revoked_clients.append(client_pk)


class FakeRevocationLog:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def append(self, kind, subject, until):
        self.entries.append((kind, subject))


def apps_unit_of_work() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(
        access_requests=FakeAccessRequestRepository(),
        logos=FakeLogoRepository(),
        grants=FakeGrantRepository(),
        refresh_tokens=FakeRefreshTokens(),
        revocations=FakeRevocationLog(),
    )
    uow.members = FakeMemberRepository(uow.users)
    uow.clients = FakeClientRepository(uow.members)
    uow.invitations = FakeInvitationRepository(lambda: uow.clients)
    return uow


def add_user(uow, username: str):
    return uow.users.create(
        username=username, username_key=username.lower(), email_key=f"{username.lower()}@x.test"
    )
