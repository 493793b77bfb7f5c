"""RFC 6749 2.3 and 5.2, RFC 7617: how a client authenticates, and how a failure is answered."""

from __future__ import annotations

import base64
import re

import pytest

ENDPOINTS = {
    "/oauth/token": {"grant_type": "client_credentials"},
    "/oauth/revoke": {"token": "whatever"},
    "/oauth/introspect": {"token": "whatever"},
    "/oauth/device_authorization": {"scope": "market:read"},
}
CHALLENGE = re.compile(r'^Basic realm="[^"\\]+"')


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
@pytest.mark.parametrize(
    ("basic_right", "body_right"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_rfc6749_2_3_basic_and_body_secret_at_once_is_invalid_request(
    client, service_app, path, basic_right, body_right
):
    """A client MUST NOT use more than one authentication method in a request (RFC 6749 2.3)."""
    header = basic(service_app.client_id, service_app.secret if basic_right else "wrong")
    form = {
        **ENDPOINTS[path],
        "client_id": service_app.client_id,
        "client_secret": service_app.secret if body_right else "wrong",
    }
    response = client.post(path, data=form, headers=header)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "one" in body["error_description"] and "2.3" in body["error_description"]


def test_rfc6749_2_3_one_method_alone_still_works(client, service_app):
    grant = {"grant_type": "client_credentials"}
    by_basic = client.post("/oauth/token", data=grant, headers=service_app.basic())
    by_body = client.post(
        "/oauth/token",
        data={**grant, "client_id": service_app.client_id, "client_secret": service_app.secret},
    )
    assert by_basic.status_code == 200 and by_body.status_code == 200


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("who", ["wrong-secret", "unknown-app"])
def test_rfc7617_invalid_client_challenge_names_a_realm_and_says_a_sentence(
    client, service_app, path, who
):
    """RFC 6749 5.2: 401 with a Basic challenge; RFC 7617 2: the challenge carries a realm."""
    client_id = service_app.client_id if who == "wrong-secret" else "no-such-app"
    response = client.post(path, data=ENDPOINTS[path], headers=basic(client_id, "wrong"))
    assert response.status_code == 401
    assert CHALLENGE.match(response.headers["WWW-Authenticate"]), response.headers
    description = response.get_json()["error_description"]
    assert response.get_json()["error"] == "invalid_client"
    assert "[" not in description and "'" not in description  # no Python list repr
    assert description[0].isupper() and description.endswith(".")


def test_rfc6749_5_2_invalid_client_by_body_is_a_sentence_too(client, service_app):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": service_app.client_id,
              "client_secret": "wrong"},
    )  # fmt: skip
    assert response.get_json()["error"] == "invalid_client"
    description = response.get_json()["error_description"]
    assert "[" not in description and description.endswith(".")
    if response.status_code == 401:
        assert CHALLENGE.match(response.headers["WWW-Authenticate"])


def test_rfc6749_2_3_wrong_basic_credentials_do_not_fall_through_to_none(client, spa_app):
    """A client that sent Basic is judged by Basic alone, never as a public client by the
    client_id it also put in the body."""
    response = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "client_id": spa_app.client_id,
              "redirect_uri": spa_app.redirect_uri, "code_verifier": "v" * 43},
        headers=basic(spa_app.client_id, "wrong"),
    )  # fmt: skip
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_rfc6749_2_3_basic_and_a_body_client_id_naming_another_client_is_invalid_request(
    client, service_app, web_app
):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": web_app.client_id},
        headers=service_app.basic(),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    same = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": service_app.client_id},
        headers=service_app.basic(),
    )
    assert same.status_code == 200  # some libraries repeat the client_id: that is one method


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_rfc7617_basic_credentials_that_are_not_utf8_are_refused_not_500(client, path):
    raw = base64.b64encode(b"\xff\xfe:\xc3\x28").decode()
    response = client.post(path, data=ENDPOINTS[path], headers={"Authorization": f"Basic {raw}"})
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("invalid_request", "invalid_client")


def _suspend(app, client_id: str) -> None:
    from idp.services import apps
    from idp.services.context import Caller
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        apps.suspend(uow, Caller(), uow.clients.by_client_id(client_id), "abuse report 42")


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_rfc6749_5_2_suspended_app_with_its_secret_is_told_unauthorized_client(
    app, client, service_app, path
):
    """The right secret: the answer names the suspension (unauthorized_client, 400) and points
    to the portal, without the admin's reason."""
    _suspend(app, service_app.client_id)
    response = client.post(path, data=ENDPOINTS[path], headers=service_app.basic())
    body = response.get_json()
    assert response.status_code == 400, body
    assert body["error"] == "unauthorized_client"
    assert "suspended" in body["error_description"]
    assert "developer portal" in body["error_description"]
    assert "abuse report" not in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_rfc6749_5_2_suspended_app_without_its_secret_learns_nothing(
    app, client, service_app, path
):
    """A wrong secret gets exactly what it gets for an app that is not suspended."""
    wrong = basic(service_app.client_id, "not-the-secret")
    before = client.post(path, data=ENDPOINTS[path], headers=wrong)
    _suspend(app, service_app.client_id)
    after = client.post(path, data=ENDPOINTS[path], headers=wrong)
    assert after.status_code == before.status_code == 401
    assert after.get_json() == before.get_json()
    assert after.get_json()["error"] == "invalid_client"
    assert "suspended" not in after.get_data(as_text=True)
