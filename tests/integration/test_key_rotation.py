"""Issue 11 part 5: a rotated-in signing key is published before it signs (no blind window).

`tessera keys rotate` makes the key "next": in the JWKS at once, signing only after
TESSERA_KEY_PUBLICATION_DELAY, while the key it replaces signs until then and stays published
until its tokens expired. Runs on both databases (the `app` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest
from freezegun import freeze_time

from tests.integration.test_cli_clients import cli, cli_json, client_credentials, service

DELAY = 300  # the default TESSERA_KEY_PUBLICATION_DELAY


@pytest.fixture(autouse=True)
def _no_pending_keys_afterwards(app):
    """Signing keys outlive a test (see tests/conftest.py): leave no next key due later."""
    yield
    assert cli(app, "keys", "rotate", "--now").exit_code == 0


def _token_kid(client, bot) -> str:
    response = client_credentials(client, bot.client_id, bot.secret)
    assert response.status_code == 200, response.get_json()
    return jwt.get_unverified_header(response.get_json()["access_token"])["kid"]


def _published(client) -> set[str]:
    return {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}


def test_rotate_publishes_next_key_at_once_and_signs_with_it_only_after_the_delay(app, client):
    assert app.extensions["tessera"].settings.KEY_PUBLICATION_DELAY == DELAY
    bot = service(app)
    with freeze_time(datetime.now(UTC)) as frozen:
        old_kid = _token_kid(client, bot)
        rotated = cli_json(app, "keys", "rotate", "--alg", "ES256")
        new_kid = rotated[0]["kid"]
        assert rotated[0]["state"] == "next" and rotated[0]["active"] is False
        assert {old_kid, new_kid} <= _published(client)
        assert _token_kid(client, bot) == old_kid  # published, not yet signing

        listed = {k["kid"]: k for k in cli_json(app, "keys", "list")}
        assert listed[new_kid]["state"] == "next"
        assert listed[old_kid]["state"] == "active"
        assert listed[old_kid]["retired"] == listed[new_kid]["activates"]
        human = cli(app, "keys", "list").output
        assert f"{new_kid}" in human and "next" in human and "activates" in human

        frozen.tick(DELAY - 1)
        assert _token_kid(client, bot) == old_kid
        frozen.tick(1)
        assert _token_kid(client, bot) == new_kid
        assert {old_kid, new_kid} <= _published(client)  # old tokens still verify
        listed = {k["kid"]: k for k in cli_json(app, "keys", "list")}
        assert listed[new_kid]["state"] == "active" and listed[old_kid]["state"] == "retired"
        assert listed[old_kid]["unpublish"] > listed[old_kid]["retired"]


def test_rotate_prints_when_the_new_keys_activate(app):
    with freeze_time("2026-11-30 12:00:00"):
        output = cli(app, "keys", "rotate", "--alg", "RS256").output
    assert "signs from 2026-11-30T12:05:00+00:00" in output and "published now" in output


def test_rotate_now_signs_with_the_new_key_at_once(app, client):
    bot = service(app)
    old_kid = _token_kid(client, bot)
    rotated = cli_json(app, "keys", "rotate", "--alg", "ES256", "--now")
    assert rotated[0]["state"] == "active"
    assert _token_kid(client, bot) == rotated[0]["kid"] != old_kid
    assert old_kid in _published(client)


def test_second_rotation_during_the_delay_keeps_the_current_key_signing(app, client):
    bot = service(app)
    with freeze_time(datetime.now(UTC)) as frozen:
        old_kid = _token_kid(client, bot)
        first = cli_json(app, "keys", "rotate", "--alg", "ES256")[0]["kid"]
        frozen.tick(100)
        second = cli_json(app, "keys", "rotate", "--alg", "ES256")[0]["kid"]
        assert _token_kid(client, bot) == old_kid
        assert {old_kid, first, second} <= _published(client)
        frozen.tick(DELAY)
        assert _token_kid(client, bot) == second
        assert {old_kid, first, second} <= _published(client)


def test_rotate_now_during_the_delay_supersedes_the_pending_next_key(app, client):
    bot = service(app)
    with freeze_time(datetime.now(UTC)) as frozen:
        pending = cli_json(app, "keys", "rotate", "--alg", "ES256")[0]["kid"]
        emergency = cli_json(app, "keys", "rotate", "--alg", "ES256", "--now")[0]["kid"]
        assert _token_kid(client, bot) == emergency
        frozen.tick(DELAY + 1)
        assert _token_kid(client, bot) == emergency != pending
