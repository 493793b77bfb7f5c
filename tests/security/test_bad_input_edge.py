"""Bad input gets a clear 4xx at the edge, never a 500 (issue 12 item 10).

Each case here answered 500 on SQLite, PostgreSQL or both: scope text echoed into an
``error_description`` Authlib refuses to render (RFC 6749 5.2 allows printable ASCII without
``"`` and ``\\``), Basic credentials that are not UTF-8 (RFC 7617 2), ``²`` passing
``str.isdigit()``, lone surrogates in JSON (RFC 8259 8.2), NUL bytes PostgreSQL refuses to
store, and a JWT whose ``alg`` does not fit its ``kid``'s key (RFC 7515 4.1.1, RFC 8725 3.1).
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from idp.errors import InvalidScope, OAuthError, safe_description
from tests.conftest import csrf_token
from tests.portal.test_management_api import user_token

# RFC 6749 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E
RFC6749_DESCRIPTION = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]*$")


def assert_rfc6749_error(response, status: int | tuple[int, ...] = 400) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    body = response.get_json()
    assert body and "error" in body, body
    assert RFC6749_DESCRIPTION.match(body.get("error_description", "")), body
    return body


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# --- RFC 6749 5.2: error descriptions are safe by construction --------------------------------


@pytest.mark.parametrize(
    "text",
    ['scope "x"', "back\\slash", "caf\u00e9 \u00b2", "nul\x00 and\nnewline", "\ud800", "x" * 900],
)
def test_rfc6749_5_2_oauth_error_descriptions_are_printable_ascii(text):
    described = InvalidScope(text).description
    assert RFC6749_DESCRIPTION.match(described)
    assert 0 < len(described) <= 300
    assert RFC6749_DESCRIPTION.match(safe_description(text))
    assert OAuthError("plain words.").description == "plain words."


@pytest.mark.parametrize(
    "scope", ['market:read "quoted"', "market:read back\\slash", "caf\u00e9", "\u00b2", "a\tb\x7f"]
)
def test_rfc6749_5_2_scope_text_is_never_echoed_into_error_description(client, service_app, scope):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=service_app.basic(),
    )
    body = assert_rfc6749_error(response)
    assert body["error"] in ("invalid_scope", "invalid_request")
    assert scope not in body.get("error_description", "")


def test_rfc6749_5_2_unknown_scope_at_authorize_is_not_a_500(flow, web_app):
    response = flow.authorize(web_app, scope='openid "x\\y"')
    assert response.status_code in (303, 302, 400), response.status_code
    assert 'x\\y"' not in response.headers.get("Location", "")


# --- RFC 7617 2: Basic credentials are UTF-8 -------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("raw", [b"\xff\xfe:secret", b"client:\xc3\x28", b"no-colon-\xff"])
def test_rfc7617_non_utf8_basic_credentials_are_refused_not_500(client, path, raw):
    response = client.post(
        path, data={"grant_type": "client_credentials", "token": "x"}, headers=basic(raw)
    )
    body = assert_rfc6749_error(response, (400, 401))
    assert body["error"] in ("invalid_client", "invalid_request")


def test_rfc7617_non_utf8_basic_credentials_at_revocation_feed(client):
    response = client.get("/oauth/revocations", headers=basic(b"\xff:\xfe"))
    assert_rfc6749_error(response, (400, 401))


# --- NUL bytes and control characters (PostgreSQL refuses NUL in text) ----------------------


@pytest.mark.parametrize("client_id", ["a\x00b", "\x00", "x\x1b[31m"])
def test_nul_in_client_id_at_token_endpoint_is_400(client, client_id):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "s"},
    )
    assert_rfc6749_error(response, (400, 401))


def test_nul_in_client_id_at_authorize_is_400_page(client):
    response = client.get("/oauth/authorize", query_string={"client_id": "a\x00b"})
    assert response.status_code == 400


def test_nul_in_login_form_is_400(client, user):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"login": "trader\x00", "password": "x\x00y", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_nul_in_register_form_is_400(client):
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={
            "username": "nul\x00user",
            "email": "n@example.com",
            "password": "p" * 20,
            "csrf_token": token,
        },
    )
    assert response.status_code == 400


# --- non-ASCII digits: "²".isdigit() is True and int("²") raises ------------------------------


def test_superscript_digit_max_age_at_authorize_is_not_500(flow, web_app):
    response = flow.authorize(web_app, max_age="\u00b2")
    assert response.status_code in (302, 303, 400)


def test_superscript_digit_since_at_revocation_feed_is_not_500(app, client):
    from tests.security.test_revocation_and_introspection import resource_server

    rs = resource_server(app)
    response = client.get("/oauth/revocations?since=%C2%B2", headers=rs.basic())
    assert 400 <= response.status_code < 500


# --- RFC 8259 8.2: lone surrogates in the management API's JSON --------------------------------


@pytest.mark.parametrize("name", ['"\\ud800"', '"x\\udfff y"', '"nul\\u0000"'])
def test_rfc8259_lone_surrogate_in_api_json_is_400(app, client, auth, user, name):
    token, _ = user_token(app, client, auth, "openid apps:manage")
    raw = '{"name": ' + name + ', "app_type": "service", "scopes": ["market:read"]}'
    response = app.test_client().post(
        "/api/v1/apps",
        data=raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] in ("invalid_json", "invalid_text")


# --- RFC 8725 3.1: the algorithm comes from the key, never from the header ----------------------


def _kids(client) -> dict[str, str]:
    return {k["alg"]: k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}


def _forged(kid: str, alg: str, typ: str = "at+jwt") -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": "http://localhost", "sub": "x", "exp": 4102444800, "iat": 1, "jti": "j"}
    return f"{part({'alg': alg, 'kid': kid, 'typ': typ})}.{part(claims)}.c2ln"


def mismatched_tokens(client, typ: str = "at+jwt") -> list[str]:
    kids = _kids(client)
    return [_forged(kids["ES256"], "RS256", typ), _forged(kids["RS256"], "ES256", typ)]


def test_rfc8725_alg_not_fitting_kid_at_userinfo_is_invalid_token(client):
    for token in mismatched_tokens(client):
        response = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_token"


def test_rfc8725_alg_not_fitting_kid_at_introspection_is_inactive(client, service_app):
    for token in mismatched_tokens(client):
        response = client.post(
            "/oauth/introspect", data={"token": token}, headers=service_app.basic()
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {"active": False}


def test_rfc8725_alg_not_fitting_kid_at_revocation_is_200(client, service_app):
    for token in mismatched_tokens(client):
        response = client.post("/oauth/revoke", data={"token": token}, headers=service_app.basic())
        assert response.status_code == 200, response.get_json()


def test_rfc8725_alg_not_fitting_kid_in_id_token_hint_is_an_error_page(client):
    for token in mismatched_tokens(client, typ="JWT"):
        response = client.get("/oauth/logout", query_string={"id_token_hint": token})
        assert response.status_code == 400, response.status_code


def test_rfc8725_alg_not_fitting_kid_at_management_api_is_invalid_token(client):
    for token in mismatched_tokens(client):
        response = client.get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_token"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("header", ["Basic ", "Basic", "Basic " + "YSUwMDpi"])  # a%00:b
def test_rfc6749_2_3_1_empty_or_nul_basic_credentials_are_refused_not_500(client, path, header):
    response = client.post(path, data={"token": "x"}, headers={"Authorization": header})
    assert_rfc6749_error(response, (400, 401))


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect", "/oauth/revocations"])
@pytest.mark.parametrize("credentials", ["%D9%A3", "refresh_token"])
def test_rfc7617_basic_credentials_base64_with_stray_characters_not_500(client, path, credentials):
    """Found by the fuzzer: lenient base64 decoding turned these into bytes that are not UTF-8."""
    headers = {"Authorization": f"Basic {credentials}"}
    if path == "/oauth/revocations":
        response = client.get(path, headers=headers)
    else:
        response = client.post(path, data={"token": "x"}, headers=headers)
    assert_rfc6749_error(response, (400, 401))


@pytest.mark.parametrize(
    "params",
    [
        {"response_type": 'code "x\\'},
        {"redirect_uri": 'https://app.example.com/callback"\\'},
        {"code_challenge_method": 'S256"'},
        {"prompt": 'login"\\'},
        {"resource": 'https://x"\\/'},
    ],
)
def test_rfc6749_4_1_2_1_request_text_never_breaks_an_authorization_error(flow, web_app, params):
    response = flow.authorize(web_app, **params)
    assert response.status_code in (200, 302, 303, 400), response.status_code
    location = response.headers.get("Location", "")
    assert "%22" not in location.partition("error_description=")[2].partition("&")[0]


def test_rfc6749_5_2_parameter_names_in_machine_endpoint_errors_are_safe(client):
    body = b"a%22%5Cb=1&a%22%5Cb=2&grant_type=client_credentials"
    response = client.post(
        "/oauth/token", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert_rfc6749_error(response, 400)
