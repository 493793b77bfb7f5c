"""Bad input gets a clear 4xx, never a 500, and leaves nothing half-written."""

from __future__ import annotations

from sqlalchemy import func, select

from idp.extensions import db
from idp.storage.models import User
from tests.conftest import csrf_token


def test_missing_csrf_token_is_a_readable_400(client):
    response = client.post(
        "/register", data={"username": "x", "email": "x@example.com", "password": "p" * 20}
    )
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_non_utf8_form_bytes(app, client):
    token = csrf_token(client, "/login")
    body = b"login=\xff\xfe\xfa&password=\xc3\x28&csrf_token=" + token.encode()
    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (400, 401)


def test_wrong_content_type(client):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data='{"login": "a"}',
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 400


def test_oversized_body_is_413(client):
    response = client.post("/login", data={"login": "a" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than" in response.get_data(as_text=True)


def test_oversized_field_rejected_without_saving(app, client):
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={
            "username": "u" * 500,
            "email": "big@example.com",
            "password": "p" * 20,
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 0


def test_password_over_maximum_rejected(client):
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={
            "username": "longpw",
            "email": "lp@example.com",
            "password": "p" * 500,
            "csrf_token": token,
        },
    )
    assert response.status_code == 400


def test_broken_session_cookie_is_ignored(client):
    client.set_cookie("tessera", "not-a-signed-cookie.at.all")
    response = client.get("/login")
    assert response.status_code == 200


def test_unknown_page_is_a_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.get_data(as_text=True)


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/login")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_500_page_without_traceback(app):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    response = app.test_client().get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internal detail" not in body and "Traceback" not in body


def test_checklist_9_security_headers_on_login_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_checklist_9_no_third_party_resources(client):
    body = client.get("/login").get_data(as_text=True)
    assert "http://" not in body.replace("http://localhost", "") and "https://" not in body


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
