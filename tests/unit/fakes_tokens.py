"""In-memory test doubles for the token endpoint's ports: codes, refresh tokens, grants, revocations."""

from __future__ import annotations

from types import SimpleNamespace

from idp.domain.clients import APP_TYPES, ClientPolicy
from tests.unit.fakes import FakeUnitOfWork


def row(**fields) -> SimpleNamespace:
    return SimpleNamespace(**fields)


class FakeRefreshTokenRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []
        self.inserted: list[dict] = []

    def add(self, token):
        token.id = len(self.rows) + 1
        self.rows.append(token)
        return token

    def by_digest(self, digest):
        return next((t for t in self.rows if t.digest == digest), None)

    def claim_by_digest(self, digest, now):
        token = self.by_digest(digest)
        if token is None or token.rotated_at is not None or token.revoked_at is not None:
            return None
        token.rotated_at = now
        return SimpleNamespace(**vars(token))

    def rotated_at(self, token_id):
        return next(t.rotated_at for t in self.rows if t.id == token_id)

    def revoke_family(self, family_id, now):
        for token in self.rows:
            if token.family_id == family_id and token.revoked_at is None:
                token.revoked_at = now

    def insert(self, values):
        self.inserted.append(values)


class FakeCodeRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []

    def create(self, **fields):
        code = SimpleNamespace(id=len(self.rows) + 1, used_at=None, family_id=None, **fields)
        self.rows.append(code)
        return code

    def by_digest(self, digest):
        return next((c for c in self.rows if c.code_digest == digest), None)

    def claim_by_digest(self, digest, client_pk, family_id, now):
        code = self.by_digest(digest)
        if code is None or code.client_pk != client_pk or code.used_at is not None:
            return None
        code.used_at, code.family_id = now, family_id
        return SimpleNamespace(**vars(code))


class FakeGrantRepository:
    def __init__(self) -> None:
        self.rows: dict[int, SimpleNamespace] = {}
        self.users: dict[int, SimpleNamespace] = {}

    def standing(self, pk):
        grant = self.rows.get(pk)
        return row(gid=grant.gid, revoked_at=grant.revoked_at) if grant else None

    def with_user(self, pk, user_id):
        grant, user = self.rows.get(pk), self.users.get(user_id)
        if grant is None or user is None:
            return None
        return row(
            gid=grant.gid,
            revoked_at=grant.revoked_at,
            user_id=user.id,
            subject=user.subject,
            disabled_at=user.disabled_at,
        )


class FakeAccessTokenRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []
        self.inserted: list[dict] = []

    def live_for_family(self, family_id, now):
        return [t for t in self.rows if t.family_id == family_id and t.expires_at > now]

    def insert(self, values):
        self.inserted.append(values)


class FakeRevocationLog:
    def __init__(self) -> None:
        self.entries: list[tuple] = []

    def append(self, kind, subject, until):
        self.entries.append((kind, subject, until))


def token_uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(
        refresh_tokens=FakeRefreshTokenRepository(),
        codes=FakeCodeRepository(),
        grants=FakeGrantRepository(),
        access_tokens=FakeAccessTokenRepository(),
        revocations=FakeRevocationLog(),
    )


class FakeMinter:
    """Access tokens as readable strings: what was asked for, not a signature."""

    def __init__(self) -> None:
        self.requests: list = []

    def access_token(self, req):
        from idp.services.tokens import MintedAccessToken

        self.requests.append(req)
        jti = f"jti-{len(self.requests)}"
        return MintedAccessToken(
            token=f"at-{jti}", jti=jti, expires_at=1_800_000_000, expires_in=300
        )


def client_policy(app_type: str = "web", **changes) -> ClientPolicy:
    fields = dict(
        pk=7,
        client_id="app-7",
        name="App",
        app_type=app_type,
        redirect_uris=("https://app.example/cb",),
        post_logout_redirect_uris=(),
        grant_types=APP_TYPES[app_type].grant_types,
        allowed_scopes=("openid", "offline_access"),
        tier="free",
        custom_rps=None,
        custom_burst=None,
        require_pkce=False,
        access_token_ttl=None,
        refresh_token_ttl=None,
        suspended=False,
    )
    return ClientPolicy(**{**fields, **changes})
