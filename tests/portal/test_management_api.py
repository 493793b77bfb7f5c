"""Management API: bearer auth (RFC 6750), app CRUD scoped to the token's user, secret rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from idp.services import apps
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.portal.test_developer_fixtures import load_client, make_client, register_user, token_for
from tests.security.conftest import WEB_REDIRECT, Flow, register_app


class Api:
    def __init__(self, app, token: str) -> None:
        self.http, self.token = app.test_client(), token

    def __call__(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token or self.token}", **kwargs.pop("headers", {})}
        return self.http.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


def user_token(app, client, auth, scope: str) -> tuple[str, str]:
    """A real access token for `trader` through the code flow: (token, the CLI app's client_id)."""
    assert auth.login().status_code == 303
    cli = register_app(
        app,
        apps.ClientSpec(
            name="Dev CLI",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=["openid", "profile", "apps:manage"],
        ),
    )
    return Flow(client).tokens(cli, scope=scope)["access_token"], cli.client_id


@pytest.fixture
def api(app, client, auth, user) -> Api:
    token, _ = user_token(app, client, auth, "openid apps:manage")
    return Api(app, token)


NEW_BOT = {"name": "Price Bot", "app_type": "service", "scopes": ["market:read"]}


def test_rfc6750_3_1_no_token_is_401_with_bare_challenge(app):
    response = app.test_client().get("/api/v1/apps")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tessera-api"'


@pytest.mark.parametrize(
    "header", ["Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer a b"]
)
def test_rfc6750_3_1_bad_token_is_401_invalid_token(app, header):
    response = app.test_client().get("/api/v1/apps", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_checklist_24_token_in_query_string_is_ignored(app, api):
    response = app.test_client().get(f"/api/v1/apps?access_token={api.token}")
    assert response.status_code == 401


def test_rfc6750_3_1_token_without_apps_manage_is_403_insufficient_scope(app, client, auth, user):
    token, _ = user_token(app, client, auth, "openid profile")
    response = Api(app, token)("GET", "/apps")
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert 'scope="apps:manage"' in response.headers["WWW-Authenticate"]


def test_revoked_token_is_401(app, client, auth, user):
    token, cli_id = user_token(app, client, auth, "openid apps:manage")
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        apps.suspend(uow, Caller(), uow.clients.by_client_id(cli_id), "test")
    assert Api(app, token)("GET", "/apps").status_code == 401


def test_expired_token_is_401(app, api):
    with freeze_time(datetime.now(UTC) + timedelta(hours=2)):
        assert api("GET", "/apps").get_json()["error"] == "invalid_token"


def test_create_list_show_update_delete(app, api, user):
    created = api("POST", "/apps", json=NEW_BOT)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["client_secret"] and body["role"] == "owner"
    assert body["grant_types"] == ["client_credentials"]
    assert created.headers["Location"].endswith(f"/api/v1/apps/{body['client_id']}")
    assert created.headers["Cache-Control"] == "no-store"
    assert token_for(app, body["client_id"], body["client_secret"]).status_code == 200
    listed = api("GET", "/apps").get_json()["apps"]
    assert [a["client_id"] for a in listed] == [body["client_id"]]
    shown = api("GET", f"/apps/{body['client_id']}").get_json()
    assert "client_secret" not in shown and shown["rate_limit"] == {
        "tier": "default",
        "rps": 3,
        "burst": 10,
    }
    patched = api("PATCH", f"/apps/{body['client_id']}", json={"name": "Renamed"})
    assert patched.status_code == 200 and patched.get_json()["name"] == "Renamed"
    assert api("DELETE", f"/apps/{body['client_id']}").status_code == 204
    assert load_client(app, body["client_id"]) is None


def test_another_users_app_is_404(app, api):
    other = make_client(app, register_user(app, "olga"))
    for method, path in [
        ("GET", f"/apps/{other}"),
        ("PATCH", f"/apps/{other}"),
        ("DELETE", f"/apps/{other}"),
        ("POST", f"/apps/{other}/rotate-secret"),
    ]:
        response = api(method, path, json={"name": "x"} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"] == "not_found"
    assert api("GET", "/apps").get_json() == {"apps": []}
    assert load_client(app, other).name == "Price Bot"


def test_invalid_app_is_422_with_messages_per_field(app, api):
    response = api(
        "POST",
        "/apps",
        json={"name": "Web", "app_type": "web", "redirect_uris": ["http://evil.example/cb"]},
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_app"
    assert "loopback" in body["fields"]["redirect_uris"][0]
    response = api("POST", "/apps", json={**NEW_BOT, "scopes": ["revocations:read"]})
    assert "admin's approval" in response.get_json()["fields"]["scopes"][0]


def test_update_cannot_add_restricted_scope_or_change_type(app, api):
    cid = api("POST", "/apps", json=NEW_BOT).get_json()["client_id"]
    response = api("PATCH", f"/apps/{cid}", json={"scopes": ["market:read", "revocations:read"]})
    assert response.status_code == 422
    response = api("PATCH", f"/apps/{cid}", json={"app_type": "web"})
    assert response.status_code == 400 and response.get_json()["error"] == "unknown_field"
    assert load_client(app, cid).allowed_scopes == ["market:read"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": b"\xff\xfe", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": "NaN", "content_type": "application/json"}, 400, "invalid_json"),
        (
            {"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"},
            400,
            "invalid_json",
        ),
        ({"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, 415, None),
        ({"json": ["a list"]}, 400, "invalid_body"),
        ({"json": {**NEW_BOT, "owner_id": 1}}, 400, "unknown_field"),
        ({"json": {"name": "x"}}, 400, "missing_field"),
        ({"json": {**NEW_BOT, "name": 5}}, 400, "invalid_type"),
        ({"json": {**NEW_BOT, "scopes": "market:read"}}, 400, "invalid_type"),
        ({"json": {**NEW_BOT, "scopes": [1]}}, 400, "invalid_type"),
        ({"json": {**NEW_BOT, "redirect_uris": ["x"] * 51}}, 400, "invalid_type"),
        (
            {
                "data": '{"name": "a", "name": "b", "app_type": "service"}',
                "content_type": "application/json",
            },
            400,
            "duplicate_field",
        ),
        ({"json": {**NEW_BOT, "description": "x" * 70000}}, 413, "too_large"),
    ],
)
def test_malformed_bodies_are_4xx_with_stable_codes(app, api, kwargs, status, code):
    response = api("POST", "/apps", **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["error"] == (code or "unsupported_media_type") and body["message"]
    assert api("GET", "/apps").get_json() == {"apps": []}


def test_rotate_secret_with_grace(app, api):
    cid = api("POST", "/apps", json=NEW_BOT).get_json()["client_id"]
    old = api("POST", f"/apps/{cid}/rotate-secret", json={"grace_seconds": 0}).get_json()
    rotated = api("POST", f"/apps/{cid}/rotate-secret", json={"grace_seconds": 3600})
    assert rotated.status_code == 200
    new = rotated.get_json()["client_secret"]
    assert token_for(app, cid, new).status_code == 200
    assert token_for(app, cid, old["client_secret"]).status_code == 200
    with freeze_time(datetime.now(UTC) + timedelta(hours=1, seconds=5)):
        assert token_for(app, cid, old["client_secret"]).status_code == 401
        assert token_for(app, cid, new).status_code == 200
    bad = api("POST", f"/apps/{cid}/rotate-secret", json={"grace_seconds": True})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_type"
    bad = api("POST", f"/apps/{cid}/rotate-secret", json={"grace_seconds": 10**9})
    assert bad.status_code == 400


def test_rotate_public_app_is_409(app, api):
    spa = {"name": "SPA", "app_type": "spa", "redirect_uris": ["http://127.0.0.1/cb"]}
    cid = api("POST", "/apps", json=spa).get_json()["client_id"]
    response = api("POST", f"/apps/{cid}/rotate-secret")
    assert response.status_code == 409 and response.get_json()["error"] == "public_app"


def test_wrong_method_and_unknown_path_are_json(app, api):
    response = api("PUT", "/apps")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, POST"
    response = api("GET", "/nothing/here")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_api_is_csrf_exempt_and_ignores_the_browser_session(app, client, auth, user):
    assert auth.login().status_code == 303
    response = client.post("/api/v1/apps", json=NEW_BOT)  # signed-in cookie, no bearer token
    assert response.status_code == 401
