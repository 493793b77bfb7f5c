"""The machine endpoints served in front of Flask (idp.protocol.machine_endpoints): the same answers and
protections Flask gave them, on every path of the wrapper.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.sessions import SecureCookieSessionInterface
from freezegun import freeze_time
from sqlalchemy import event, select

from idp.extensions import db
from idp.protocol.machine_endpoints import ENDPOINTS
from idp.storage.models import AuditEvent

SECURITY = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def assert_protocol_headers(response) -> None:
    assert response.headers.getlist("Cache-Control") == ["no-store"]
    assert response.headers.getlist("Pragma") == ["no-cache"]
    assert len(response.headers.getlist("Content-Length")) == 1
    for name, value in SECURITY.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_checklist_16_every_answer_is_no_store_json_with_security_headers(client, service_app):
    ok = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_app.basic()
    )
    assert ok.status_code == 200 and ok.mimetype == "application/json"
    answers = [
        ok,
        client.post("/oauth/token", data={"grant_type": "password"}, headers=service_app.basic()),
        client.post("/oauth/token", data={"grant_type": "client_credentials"}),
        client.post("/oauth/token", data="{}", content_type="application/json"),
        client.get("/oauth/token"),
        client.post("/oauth/introspect", data={"token": "x"}),
    ]
    for response in answers:
        assert_protocol_headers(response)
        if response.status_code != 200:
            assert response.get_json()["error"]


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_checklist_16_other_methods_get_405_naming_post(client, path):
    for method in ("GET", "PUT", "DELETE", "HEAD"):
        response = client.open(path, method=method)
        assert response.status_code == 405
        assert response.headers["Allow"] == "OPTIONS, POST"
    options = client.options(path)
    assert options.status_code == 200 and "POST" in options.headers["Allow"]


def test_checklist_16_too_large_body_is_413_json(client):
    response = client.post(
        "/oauth/token",
        data="grant_type=client_credentials&pad=" + "x" * (1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413 and response.get_json()["error"] == "invalid_request"


def test_checklist_16_plain_http_from_a_non_loopback_host_is_refused(client, service_app):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=service_app.basic(),
        base_url="http://idp.example",
    )
    assert response.status_code == 400 and response.get_json()["error"] == "insecure_transport"
    assert "access_token" not in response.get_json()


def test_checklist_16_an_unexpected_failure_is_a_json_500_without_details(
    app, client, service_app, monkeypatch
):
    def explode(request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["tessera"].oauth, "create_token_response", explode)
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_app.basic()
    )
    assert response.status_code == 500
    assert response.get_json()["error"] == "server_error"
    assert b"secret internals" not in response.data and b"Traceback" not in response.data


def test_machine_endpoints_ignore_cookies_and_set_none(client, service_app):
    client.set_cookie("tessera", "forged.cookie.value")
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_app.basic()
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_cached_client_credentials_grant_touches_no_database(app, client, service_app):
    """The property the token endpoint's speed rests on (bench/README.md)."""
    data = {"grant_type": "client_credentials", "scope": "market:read"}
    assert client.post("/oauth/token", data=data, headers=service_app.basic()).status_code == 200
    for _ in range(3):
        response, statements = statement_kinds(
            app, lambda: client.post("/oauth/token", data=data, headers=service_app.basic())
        )
        assert response.status_code == 200 and statements == []


def test_checklist_13_replay_audit_names_the_forwarded_client_address(make_app_client_flow):
    flow, app, web = make_app_client_flow(TRUSTED_PROXIES=1)
    with freeze_time(datetime.now(UTC)) as frozen:
        tokens = flow.tokens(web, scope="openid offline_access")
        assert flow.refresh(web, tokens["refresh_token"]).status_code == 200
        frozen.tick(timedelta(seconds=10))  # past the grace for a client's own race
        replay = flow.client.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers={**web.basic(), "X-Forwarded-For": "203.0.113.7", "User-Agent": "stolen-copy"},
        )
    assert replay.status_code == 400
    with app.app_context():
        audit = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "refresh_token.replayed")
        ).one()
    assert (audit.ip, audit.user_agent) == ("203.0.113.7", "stolen-copy")


@pytest.mark.parametrize("path", ["/jwks.json", "/.well-known/openid-configuration", "/healthz"])
def test_machine_pages_in_flask_do_not_open_the_cookie_session(client, path, monkeypatch):
    """Flask opens the session before it matches the URL: the interface decides by path."""
    opened: list[str] = []
    real_open = SecureCookieSessionInterface.open_session

    def spy(self, app, request):
        opened.append(request.path)
        return real_open(self, app, request)

    monkeypatch.setattr(SecureCookieSessionInterface, "open_session", spy)
    client.set_cookie("tessera", "forged.cookie.value")
    assert client.get(path).status_code == 200
    assert opened == []
    client.get("/login")
    assert opened == ["/login"]


def statement_kinds(app, call) -> tuple[object, list[str]]:
    """call()'s result, and the first word of every SQL statement it ran."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        return call(), statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_refresh_rotation_costs_four_statements(app, flow, web_app):
    """Claim with UPDATE ... RETURNING, grant and user in one read, two inserts (bench/README.md)."""
    tokens = flow.tokens(web_app, scope="openid offline_access")
    response, statements = statement_kinds(
        app, lambda: flow.refresh(web_app, tokens["refresh_token"])
    )
    assert response.status_code == 200 and response.get_json()["refresh_token"]
    assert statements == ["UPDATE", "SELECT", "INSERT", "INSERT"]


def test_code_exchange_costs_five_statements(app, flow, web_app):
    """Claim with UPDATE ... RETURNING, the grant, the user (for the ID token), two inserts."""
    assert flow.tokens(web_app, scope="openid")  # the key store has read its keys
    code = flow.code(web_app, scope="openid offline_access")
    response, statements = statement_kinds(app, lambda: flow.exchange(web_app, code))
    assert response.status_code == 200 and response.get_json()["id_token"]
    assert statements == ["UPDATE", "SELECT", "SELECT", "INSERT", "INSERT"]
