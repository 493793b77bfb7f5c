"""In-memory grants, and the app snapshot consent and the authorize checks read."""

from __future__ import annotations

from types import SimpleNamespace

from idp.domain.clients import ClientPolicy


class FakeGrantRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []

    def create(self, **fields):
        grant = SimpleNamespace(
            id=len(self.rows) + 1, revoked_at=None, last_used_at=None, updated_at=None
        )
        vars(grant).update(fields)
        self.rows.append(grant)
        return grant

    def active(self, user_id, client_pk):
        live = [
            g
            for g in self.rows
            if g.user_id == user_id and g.client_pk == client_pk and g.revoked_at is None
        ]
        return live[-1] if live else None


def app_policy(**overrides) -> ClientPolicy:
    fields = dict(
        pk=7,
        client_id="market-web",
        name="Market",
        app_type="web",
        redirect_uris=("https://market.example/callback",),
        post_logout_redirect_uris=(),
        grant_types=("authorization_code", "refresh_token"),
        allowed_scopes=("openid", "profile", "market:read"),
        tier="standard",
        custom_rps=None,
        custom_burst=None,
        require_pkce=True,
        access_token_ttl=None,
        refresh_token_ttl=None,
        suspended=False,
    )
    fields.update(overrides)
    return ClientPolicy(**fields)
