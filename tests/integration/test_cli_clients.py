"""`tessera clients ...`, `tessera keys ...` and the demo apps, through the real CLI and endpoints."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from freezegun import freeze_time
from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import AuditEvent, Client, Grant, User
from tests.conftest import AuthActions
from tests.security.conftest import App, Flow

TYPES = {
    "web": ["--redirect-uri", "https://app.example.com/cb", "--scope", "openid profile"],
    "spa": ["--redirect-uri", "http://127.0.0.1:3000/cb", "--scope", "openid"],
    "native": ["--redirect-uri", "com.example.trader:/oauth", "--scope", "openid"],
    "service": ["--scope", "market:read", "--scope", "ws:connect"],
    "device": ["--scope", "openid offline_access"],
}


def cli(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def cli_json(app, *args: str):
    result = cli(app, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def create(app, *args: str) -> dict:
    return cli_json(app, "clients", "create", *args)


def service(app, name: str = "Price Bot", scopes: str = "market:read") -> App:
    data = create(app, "--name", name, "--type", "service", "--scope", scopes)
    return App(data["client_id"], data["client_secret"], "")


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def client_credentials(client, client_id: str, secret: str):
    return client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )


def feed(client, rs: App) -> dict:
    response = client.get("/oauth/revocations", headers=rs.basic())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_clear_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


@pytest.mark.parametrize("app_type", list(TYPES))
def test_create_each_app_type_prints_json_with_the_secret_once(app, app_type):
    data = create(app, "--name", f"My {app_type}", "--type", app_type, *TYPES[app_type])
    assert data["app_type"] == app_type and data["name"] == f"My {app_type}"
    confidential = app_type in ("web", "service")
    assert data["confidential"] is confidential
    assert (data["client_secret"] is not None) is confidential
    shown = cli_json(app, "clients", "show", data["client_id"])
    assert "client_secret" not in shown
    assert not confidential or data["client_secret"] not in json.dumps(shown)
    assert shown["scopes"] == data["scopes"] and shown["require_pkce"] is True


def test_create_with_every_option_and_an_owner(app, user):
    data = create(
        app,
        *("--name", "Trade Helper", "--type", "web", "--no-pkce", "--tier", "verified"),
        *(
            "--redirect-uri",
            "https://a.example.com/cb",
            "--redirect-uri",
            "https://b.example.com/cb",
        ),
        *("--post-logout-redirect-uri", "https://a.example.com/bye"),
        *("--scope", "openid profile", "--scope", "orders:read"),
        *("--access-token-ttl", "300", "--refresh-token-ttl", "7200", "--owner", "trader"),
        *("--description", "Helps you trade.", "--homepage", "https://a.example.com"),
    )
    assert data["redirect_uris"] == ["https://a.example.com/cb", "https://b.example.com/cb"]
    assert data["post_logout_redirect_uris"] == ["https://a.example.com/bye"]
    assert data["scopes"] == ["openid", "profile", "orders:read"]
    assert (data["tier"], data["require_pkce"], data["owner"]) == ("verified", False, "trader")
    assert (data["access_token_ttl"], data["refresh_token_ttl"]) == (300, 7200)
    assert (data["description"], data["homepage_url"]) == (
        "Helps you trade.",
        "https://a.example.com",
    )


def test_human_output_shows_the_secret_once(app):
    result = cli(app, "clients", "create", "--name", "Bot", "--type", "service")
    assert result.exit_code == 0, result.output
    assert "client_secret:" in result.output and "shown this once" in result.output
    client_id = result.output.split("client_id:", 1)[1].split()[0]
    shown = cli(app, "clients", "show", client_id)
    assert shown.exit_code == 0 and "client_secret" not in shown.output


def test_checklist_1_bad_redirect_uri_is_a_clear_error(app):
    result = cli(
        app, "clients", "create", "--name", "X", "--type", "web",
        "--redirect-uri", "http://app.example.com/cb",
    )  # fmt: skip
    assert_clear_error(result, "--redirect-uri", "plain http is only allowed for loopback")
    wildcard = cli(
        app, "clients", "create", "--name", "X", "--type", "spa",
        "--redirect-uri", "https://*.example.com/cb",
    )  # fmt: skip
    assert_clear_error(wildcard, "wildcards")
    with app.app_context():
        assert db.session.scalars(select(Client)).all() == []


def test_bad_input_is_a_clear_error_never_a_traceback(app):
    assert_clear_error(
        cli(app, "clients", "create", "--name", "X", "--type", "service", "--scope", "nope"),
        "Unknown scope(s): nope",
    )
    assert_clear_error(
        cli(app, "clients", "create", "--name", "X", "--type", "service", "--scope", "openid"),
        "cannot hold user scopes",
    )
    assert_clear_error(
        cli(app, "clients", "create", "--name", "X", "--type", "spa",
            "--redirect-uri", "http://127.0.0.1/cb", "--no-pkce"),
        "only for confidential web apps",
    )  # fmt: skip
    assert_clear_error(
        cli(app, "clients", "create", "--name", "X", "--type", "service", "--owner", "ghost"),
        "No account named 'ghost'",
    )
    assert_clear_error(
        cli(app, "clients", "create", "--name", "X", "--type", "service", "--tier", "gold"),
        "Unknown tier 'gold'",
    )
    assert_clear_error(cli(app, "clients", "create", "--name", "X", "--type", "robot"), "robot")
    for command in (
        ["show"],
        ["rotate-secret"],
        ["suspend", "--reason", "x"],
        ["unsuspend"],
        ["delete", "--yes"],
    ):
        result = cli(app, "clients", command[0], "no-such-app", *command[1:])
        assert_clear_error(result, "No app with client id 'no-such-app'")


def test_restricted_scope_is_allowed_for_an_operator_and_audited(app):
    data = create(
        app,
        *("--name", "Order Bot", "--type", "web", "--redirect-uri", "https://a.example.com/cb"),
        *("--scope", "openid orders:write chat:read"),
    )
    assert data["scopes"] == ["openid", "orders:write", "chat:read"]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "client.created"))
        assert (event.client_id, event.ip, event.user_agent) == (
            data["client_id"],
            "cli",
            "tessera-cli",
        )


def test_list_and_show(app):
    assert cli(app, "clients", "list").output.strip() == "No apps registered."
    bot = service(app)
    web = create(app, "--name", "Web", "--type", "web", "--redirect-uri", "https://a.example/cb")
    listed = cli_json(app, "clients", "list")
    assert [c["client_id"] for c in listed] == [bot.client_id, web["client_id"]]
    assert all("client_secret" not in c for c in listed)
    human = cli(app, "clients", "list").output
    assert bot.client_id in human and "Price Bot" in human and "service" in human
    shown = cli(app, "clients", "show", web["client_id"])
    assert shown.exit_code == 0 and "https://a.example/cb" in shown.output


def test_checklist_14_rotate_secret_with_grace_window(app, client):
    bot = service(app)
    start = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    with freeze_time(start) as frozen:
        rotated = cli_json(app, "clients", "rotate-secret", bot.client_id, "--grace", "60")
        new = rotated["client_secret"]
        assert new != bot.secret and rotated["grace_seconds"] == 60
        assert rotated["old_secrets_expire_at"] == (start + timedelta(seconds=60)).isoformat()
        frozen.move_to(start + timedelta(seconds=59))
        assert client_credentials(client, bot.client_id, bot.secret).status_code == 200
        assert client_credentials(client, bot.client_id, new).status_code == 200
        frozen.move_to(start + timedelta(seconds=61))
        old = client_credentials(client, bot.client_id, bot.secret)
        assert old.status_code == 401 and old.get_json()["error"] == "invalid_client"
        assert client_credentials(client, bot.client_id, new).status_code == 200


def test_checklist_14_revoke_old_ends_the_grace_period_now(app, client):
    bot = service(app)
    new = cli_json(app, "clients", "rotate-secret", bot.client_id)["client_secret"]
    assert client_credentials(client, bot.client_id, bot.secret).status_code == 200
    result = cli(app, "clients", "rotate-secret", bot.client_id, "--revoke-old")
    assert result.exit_code == 0 and "Only the newest secret" in result.output
    assert client_credentials(client, bot.client_id, bot.secret).status_code == 401
    assert client_credentials(client, bot.client_id, new).status_code == 200
    assert len(cli_json(app, "clients", "show", bot.client_id)["secrets"]) == 1
    assert_clear_error(
        cli(app, "clients", "rotate-secret", bot.client_id, "--revoke-old", "--grace", "5"),
        "takes no --grace",
    )


def test_public_app_has_no_secret_to_rotate(app):
    spa = create(app, "--name", "SPA", "--type", "spa", "--redirect-uri", "http://127.0.0.1/cb")
    assert_clear_error(cli(app, "clients", "rotate-secret", spa["client_id"]), "no secret")


def test_checklist_22_suspend_and_unsuspend(app, client):
    bot = service(app)
    rs = service(app, "Market API", "market:read revocations:read")
    suspended = cli_json(app, "clients", "suspend", bot.client_id, "--reason", "abuse")
    assert suspended["suspended"] is True and suspended["suspended_reason"] == "abuse"
    refused = client_credentials(client, bot.client_id, bot.secret)
    assert refused.status_code == 400 and refused.get_json()["error"] == "unauthorized_client"
    assert feed(client, rs)["suspended_clients"] == [bot.client_id]
    assert_clear_error(
        cli(app, "clients", "suspend", bot.client_id, "--reason", "again"), "already suspended"
    )
    assert cli_json(app, "clients", "unsuspend", bot.client_id)["suspended"] is False
    assert client_credentials(client, bot.client_id, bot.secret).status_code == 200
    assert feed(client, rs)["suspended_clients"] == []
    assert_clear_error(cli(app, "clients", "unsuspend", bot.client_id), "not suspended")
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent.event).where(AuditEvent.client_id == bot.client_id)
        ).all()
        assert {"client.suspended", "client.unsuspended"} <= set(events)


def test_checklist_22_delete_revokes_grants_and_tells_the_feed(app, client, user):
    web = create(
        app,
        *("--name", "Trade Helper", "--type", "web", "--redirect-uri", "https://a.example/cb"),
        *("--scope", "openid profile offline_access"),
    )
    web_app = App(web["client_id"], web["client_secret"], "https://a.example/cb")
    rs = service(app, "Market API", "market:read revocations:read")
    assert AuthActions(client).login().status_code == 303
    flow = Flow(client)
    tokens = flow.tokens(web_app, scope="openid offline_access")
    gid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["gid"]

    kept = cli(app, "clients", "delete", web_app.client_id, input="n\n")
    assert kept.exit_code != 0 and "Aborted" in kept.output
    assert cli_json(app, "clients", "delete", web_app.client_id, "--yes")["deleted"] is True

    snapshot = feed(client, rs)
    assert gid in [g["gid"] for g in snapshot["revoked_grants"]]
    assert web_app.client_id in snapshot["suspended_clients"]
    assert flow.refresh(web_app, tokens["refresh_token"]).status_code in (400, 401)
    with app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.gid == gid))
        assert grant is None  # the delete cascades on both databases (SQLite: PRAGMA foreign_keys)
        assert (
            db.session.scalar(select(Client).where(Client.client_id == web_app.client_id)) is None
        )
    assert_clear_error(cli(app, "clients", "show", web_app.client_id), "No app with client id")


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def test_keys_rotate_now_publishes_old_and_new_and_signs_with_new(app, client):
    """`--now`, the emergency rotation: the new key signs at once (plain `rotate` waits)."""
    bot = service(app)
    before = client_credentials(client, bot.client_id, bot.secret).get_json()["access_token"]
    old_kid = _kid(before)
    rotated = cli_json(app, "keys", "rotate", "--alg", "ES256", "--now")
    assert [k["alg"] for k in rotated] == ["ES256"] and rotated[0]["active"] is True
    new_kid = rotated[0]["kid"]
    published = {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}
    assert {old_kid, new_kid} <= published
    after = client_credentials(client, bot.client_id, bot.secret).get_json()["access_token"]
    assert _kid(after) == new_kid != old_kid
    listed = {k["kid"]: k for k in cli_json(app, "keys", "list")}
    assert listed[new_kid]["active"] is True and listed[new_kid]["retired"] is None
    assert listed[old_kid]["active"] is False
    assert listed[old_kid]["retired"] and listed[old_kid]["unpublish"] > listed[old_kid]["retired"]
    assert {k["alg"] for k in listed.values() if k["active"]} == {"ES256", "RS256"}
    human = cli(app, "keys", "list").output
    assert new_kid in human and "retired" in human
    assert_clear_error(cli(app, "keys", "rotate", "--alg", "HS256"), "Unknown --alg HS256")


def test_seed_demo_creates_the_three_demo_apps_once(app):
    first = cli(app, "seed-demo")
    assert first.exit_code == 0, first.output
    assert "web app Demo Market Web: client_id=" in first.output
    assert "native app Demo Trade Companion: client_id=" in first.output
    assert "service app Demo Market API: client_id=" in first.output
    second = cli(app, "seed-demo")
    assert second.exit_code == 0 and "nothing changed" in second.output
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.username == "admin"))
        apps = {c.name: c for c in db.session.scalars(select(Client))}
        assert sorted(apps) == ["Demo Market API", "Demo Market Web", "Demo Trade Companion"]
        assert {c.owner_id for c in apps.values()} == {admin_id}
        assert apps["Demo Market API"].allowed_scopes == ["market:read", "revocations:read"]
        assert apps["Demo Trade Companion"].require_pkce is True
        assert apps["Demo Trade Companion"].secrets == []
    # The printed secret is the resource server's credential for the revocation feed.
    line = next(x for x in first.output.splitlines() if "Demo Market API" in x)
    client_id = line.split("client_id=")[1].split()[0]
    secret = line.split("client_secret=")[1].split()[0]
    feed_response = app.test_client().get("/oauth/revocations", headers=basic(client_id, secret))
    assert feed_response.status_code == 200
