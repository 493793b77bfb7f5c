"""`tessera prune`: expired rows go, anything still able to matter stays (replay detection too)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from idp.extensions import db
from idp.storage.models import (
    AccessTokenRecord,
    AuthorizationCode,
    LoginSession,
    RefreshToken,
    RevocationEvent,
)
from tests.security.conftest import Flow


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (
                AuthorizationCode,
                RefreshToken,
                AccessTokenRecord,
                RevocationEvent,
                LoginSession,
            )
        }


def prune(app) -> dict[str, int]:
    result = app.test_cli_runner().invoke(args=["prune", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_prune_keeps_live_state_and_drops_what_expired(app, client, auth, user, web_app):
    settings = app.extensions["tessera"].settings
    with freeze_time(datetime.now(UTC)) as frozen:
        assert auth.login().status_code == 303
        flow = Flow(client)
        tokens = flow.tokens(web_app, scope="openid offline_access")
        rotated = flow.refresh(web_app, tokens["refresh_token"]).get_json()
        client.post(
            "/oauth/revoke", data={"token": rotated["access_token"]}, headers=web_app.basic()
        )
        before = counts(app)
        assert set(prune(app).values()) == {0}  # nothing has expired yet
        assert counts(app) == before

        frozen.tick(timedelta(seconds=settings.ACCESS_TOKEN_TTL + 120))
        report = prune(app)
        assert report["access_token_records"] == 2 and report["revocation_events"] == 1
        assert report["refresh_tokens"] == 0  # the rotated token must still reveal a replay

        frozen.tick(timedelta(seconds=settings.REFRESH_TOKEN_ABSOLUTE_TTL))
        report = prune(app)
        assert report["refresh_tokens"] == 2 and report["authorization_codes"] == 1
        assert report["login_sessions"] == 1
    assert counts(app) == {name: 0 for name in before}


def test_prune_human_output(app):
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0 and "refresh tokens: 0 deleted" in result.output
