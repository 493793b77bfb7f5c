"""In-memory test doubles for the device flow's ports: device codes, apps and grants."""

from __future__ import annotations

from types import SimpleNamespace

from tests.unit.fakes import FakeUnitOfWork


class FakeDeviceCodeRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []
        self.lose_next_decision = False  # someone else decides first

    def create(self, **fields):
        code = SimpleNamespace(
            id=len(self.rows) + 1,
            user_id=None,
            grant_pk=None,
            auth_time=None,
            last_polled_at=None,
            **fields,
        )
        self.rows.append(code)
        return code

    def by_digest(self, digest):
        return next((c for c in self.rows if c.device_code_digest == digest), None)

    def by_user_code(self, user_code):
        return next((c for c in self.rows if c.user_code == user_code), None)

    def decide(self, device_code, status, values):
        if self.lose_next_decision or device_code.status != "pending":
            self.lose_next_decision = False
            return False
        device_code.status = status
        for key, value in values.items():
            setattr(device_code, key, value)
        return True

    def claim(self, device_code):
        if device_code.status != "approved":
            return False
        device_code.status = "consumed"
        return True


class FakeClientRepository:
    def __init__(self) -> None:
        self.rows: dict[int, SimpleNamespace] = {}

    def get(self, pk):
        return self.rows.get(pk)


class FakeGrantRepository:
    def __init__(self) -> None:
        self.rows: dict[int, SimpleNamespace] = {}

    def active(self, user_id, client_pk):
        return next(
            (
                g
                for g in self.rows.values()
                if g.user_id == user_id and g.client_pk == client_pk and g.revoked_at is None
            ),
            None,
        )

    def by_pk(self, pk):
        return self.rows.get(pk)

    def add(self, grant):
        grant.id = len(self.rows) + 1
        grant.revoked_at = None
        self.rows[grant.id] = grant
        return grant

    def create(self, **fields):
        return self.add(SimpleNamespace(**fields))


def device_uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(
        device_codes=FakeDeviceCodeRepository(),
        clients=FakeClientRepository(),
        grants=FakeGrantRepository(),
    )
    uow.clients.rows[7] = SimpleNamespace(id=7, client_id="app-7", suspended_at=None)
    uow.users.rows[5] = SimpleNamespace(id=5, subject="sub-5", disabled_at=None)
    return uow
