"""docs/security.md#1-#11: the authorization endpoint (RFC 9700 2.1, 4.11; RFC 8252; RFC 9207)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from idp.domain.clients import InvalidRedirectUri, check_redirect_uri, redirect_uri_matches
from idp.errors import FieldErrors
from idp.services import apps
from tests.security.conftest import (
    NATIVE_REDIRECT,
    SPA_REDIRECT,
    WEB_REDIRECT,
    query_of,
    register_app,
)

ISSUER = "http://localhost"


def test_checklist_1_redirect_uri_exact_match(flow, web_app):
    for almost in (
        WEB_REDIRECT + "/",
        WEB_REDIRECT + "?x=1",
        WEB_REDIRECT.upper(),
        "https://app.example.com/callbacks",
    ):
        response = flow.authorize(web_app, redirect_uri=almost)
        assert response.status_code == 400
        assert "Location" not in response.headers


def test_checklist_1_loopback_any_port(flow, spa_app):
    response = flow.authorize(spa_app, redirect_uri="http://127.0.0.1:53127/callback")
    assert response.status_code == 200  # the consent page, not an error
    assert not redirect_uri_matches("http://127.0.0.1:53127/other", [SPA_REDIRECT])
    assert not redirect_uri_matches("https://127.0.0.1:53127/callback", [SPA_REDIRECT])


def test_checklist_2_http_only_for_loopback():
    with pytest.raises(InvalidRedirectUri, match="loopback"):
        check_redirect_uri("http://app.example.com/cb", "web")
    with pytest.raises(InvalidRedirectUri, match="localhost"):
        check_redirect_uri("http://localhost:8080/cb", "native")
    assert check_redirect_uri("http://[::1]/cb", "native") == "http://[::1]/cb"


def test_checklist_2_custom_schemes_only_reverse_domain_for_native():
    assert check_redirect_uri(NATIVE_REDIRECT, "native") == NATIVE_REDIRECT
    with pytest.raises(InvalidRedirectUri, match="reverse domain"):
        check_redirect_uri("myapp:/cb", "native")
    with pytest.raises(InvalidRedirectUri, match="native"):
        check_redirect_uri(NATIVE_REDIRECT, "web")
    for bad in (
        "https://app.example.com/cb#frag",
        "https://*.example.com/cb",
        "javascript:alert(1)",
    ):
        with pytest.raises(InvalidRedirectUri):
            check_redirect_uri(bad, "native")


def test_checklist_2_portal_and_cli_share_the_rule(app):
    with pytest.raises(FieldErrors) as excinfo:
        register_app(
            app,
            apps.ClientSpec(name="Bad", app_type="web", redirect_uris=["http://evil.example/cb"]),
        )
    assert "loopback" in excinfo.value.errors["redirect_uris"][0]


def test_checklist_3_unknown_client_is_an_error_page(flow, web_app):
    response = flow.authorize(web_app, client_id="no-such-client")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not registered" in response.get_data(as_text=True)


def test_checklist_3_unregistered_redirect_uri_is_an_error_page(flow, web_app):
    response = flow.authorize(web_app, redirect_uri="https://evil.example/steal")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_checklist_4_invalid_scope_redirects_after_validation(flow, web_app):
    response = flow.authorize(web_app, scope="openid no:such:scope")
    assert response.status_code == 303
    query = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith(WEB_REDIRECT + "?")
    assert (
        query["error"] == "invalid_scope" and query["state"] == "st-123" and query["iss"] == ISSUER
    )


def test_checklist_4_scope_not_allowed_for_app(flow, spa_app):
    response = flow.authorize(spa_app, scope="openid orders:write")
    assert query_of(response.headers["Location"])["error"] == "invalid_scope"


def test_checklist_5_pkce_plain_rejected(flow, spa_app):
    response = flow.authorize(spa_app, code_challenge="a" * 43, code_challenge_method="plain")
    query = query_of(response.headers["Location"])
    assert query["error"] == "invalid_request" and "S256" in query["error_description"]


def test_checklist_5_pkce_method_omitted_means_plain_and_is_rejected(flow, spa_app):
    response = flow.authorize(spa_app, code_challenge_method=None)
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_checklist_5_pkce_required_for_public_clients(flow, spa_app):
    response = flow.authorize(spa_app, code_challenge=None, code_challenge_method=None)
    query = query_of(response.headers["Location"])
    assert query["error"] == "invalid_request" and "PKCE" in query["error_description"]


def test_checklist_5_pkce_required_by_default_for_confidential_apps(flow, web_app):
    response = flow.authorize(web_app, code_challenge=None, code_challenge_method=None)
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


@pytest.fixture
def legacy(app):
    """A confidential web app whose operator switched PKCE off."""
    return register_app(
        app,
        apps.ClientSpec(
            name="Legacy",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=["openid"],
            require_pkce=False,
        ),
    )


def test_checklist_5_pkce_can_be_switched_off_for_a_confidential_app(flow, legacy):
    response = flow.authorize(
        legacy, scope="openid", code_challenge=None, code_challenge_method=None
    )
    code = flow.decide(response)
    code = query_of(code.headers["Location"])["code"]
    token = flow.client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": WEB_REDIRECT},
        headers=legacy.basic(),
    )
    assert token.status_code == 200


def test_checklist_5_verifier_without_challenge_rejected(flow, legacy):
    consent = flow.authorize(
        legacy, scope="openid", code_challenge=None, code_challenge_method=None
    )
    code = query_of(flow.decide(consent).headers["Location"])["code"]
    response = flow.exchange(legacy, code, verifier="v" * 50)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "response_type", ["token", "id_token", "code id_token", "code token", "none"]
)
def test_checklist_6_only_response_type_code(flow, web_app, response_type):
    response = flow.authorize(web_app, response_type=response_type)
    query = query_of(response.headers["Location"])
    assert query["error"] == "unsupported_response_type" and query["iss"] == ISSUER
    assert "#" not in response.headers["Location"]


def test_checklist_6_no_password_grant(client, web_app):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "trader", "password": "x"},
        headers=web_app.basic(),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "unsupported_grant_type"


def test_checklist_7_iss_in_success_response(flow, web_app):
    response = flow.decide(flow.authorize(web_app))
    query = query_of(response.headers["Location"])
    assert query["iss"] == ISSUER and query["state"] == "st-123" and query["code"]


def test_checklist_7_iss_in_access_denied(flow, web_app):
    response = flow.decide(flow.authorize(web_app), decision="deny")
    query = query_of(response.headers["Location"])
    assert query == {
        "error": "access_denied",
        "error_description": query["error_description"],
        "state": "st-123",
        "iss": ISSUER,
    }


def test_checklist_8_consent_post_redirects_with_303(flow, web_app):
    assert flow.decide(flow.authorize(web_app)).status_code == 303


def test_checklist_9_consent_page_headers(flow, web_app):
    page = flow.authorize(web_app)
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "form-action 'self' https://app.example.com" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


def test_checklist_9_error_page_headers(flow, web_app):
    page = flow.authorize(web_app, client_id="nope")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_checklist_10_consent_without_csrf_token_refused(flow, web_app):
    page = flow.authorize(web_app)
    import re

    pending = re.search(r'name="pending_id" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = flow.client.post(
        "/oauth/authorize", data={"pending_id": pending, "decision": "allow"}
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_checklist_10_consent_bound_to_pending_request(flow, web_app):
    page = flow.authorize(web_app)
    html = page.get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = flow.client.post(
        "/oauth/authorize", data={"csrf_token": token, "pending_id": "forged", "decision": "allow"}
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_checklist_11_openid_without_redirect_uri_is_an_error(flow, web_app):
    response = flow.authorize(web_app, redirect_uri=None)
    assert response.status_code == 400 and "Location" not in response.headers


def test_rfc6749_3_1_2_3_single_registered_uri_may_be_omitted_without_openid(flow, spa_app):
    response = flow.authorize(spa_app, redirect_uri=None, scope="orders:read")
    assert response.status_code == 200  # consent page for the one registered URI


def test_rfc6749_3_1_repeated_parameter_is_an_error_page(flow, web_app):
    response = flow.client.get(
        "/oauth/authorize?response_type=code&client_id="
        + web_app.client_id
        + "&scope=openid&scope=profile"
    )
    assert response.status_code == 400


def test_oidc_request_objects_not_supported(flow, web_app):
    for name, error in (
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ):
        response = flow.authorize(web_app, **{name: "eyJ..."})
        assert query_of(response.headers["Location"])["error"] == error


def test_suspended_app_is_an_error_page(app, flow, web_app):
    from idp.services.context import Caller
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        apps.suspend(uow, Caller(), uow.clients.by_client_id(web_app.client_id), "abuse")
    response = flow.authorize(web_app)
    assert response.status_code == 400 and "suspended" in response.get_data(as_text=True)


# --- issue 12 item 1: loopback redirect URIs and the consent page's CSP ----------------------

HOSTILE_LOOPBACK = "http://x;frame-ancestors *;@127.0.0.1:8765/callback"


@pytest.mark.parametrize(
    "requested",
    [
        HOSTILE_LOOPBACK,
        "http://user@127.0.0.1:8765/callback",
        "http://:@127.0.0.1:8765/callback",
        "http://127.0.0.2:8765/callback",
        "http://127.0.0.1:8765/callback/",
        "http://127.0.0.1:8765/callback?x=1",
        "http://127.0.0.1:8765/callback#frag",
        "http://127.0.0.1:8765/Callback",
        "HTTP://127.0.0.1:8765/callback",
        "http://127.0.0.1:८७६५/callback",  # non-ASCII digits
        "http://127.0.0.1:99999/callback",
        "http://127.0.0.1:/callback",
        "http://[::1]:8765/callback",
        "http://127.1:8765/callback",
    ],
)
def test_rfc8252_7_3_loopback_match_changes_only_the_port(requested):
    """docs/security.md#1 (RFC 8252 7.3, RFC 9700 2.1): any port, nothing else."""
    assert not redirect_uri_matches(requested, [SPA_REDIRECT])


def test_rfc8252_7_3_loopback_match_any_port_for_each_literal():
    assert redirect_uri_matches("http://127.0.0.1:8765/callback", [SPA_REDIRECT])
    assert redirect_uri_matches(
        "http://127.0.0.1:1/callback?a=b", ["http://127.0.0.1:9/callback?a=b"]
    )
    assert redirect_uri_matches("http://[::1]:8765/cb", ["http://[::1]/cb"])
    assert redirect_uri_matches("http://[::1]/cb", ["http://[::1]:80/cb"])


def _header_text(response) -> str:
    return "\n".join(f"{name}: {value}" for name, value in response.headers.items())


def test_checklist_1_hostile_userinfo_redirect_is_an_error_page(flow, spa_app):
    """The security review's example: userinfo must not pass as loopback, nor reach a header."""
    response = flow.authorize(spa_app, redirect_uri=HOSTILE_LOOPBACK)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "frame-ancestors *" not in _header_text(response)
    assert "x;" not in _header_text(response)


def test_checklist_9_consent_csp_comes_from_the_registration(flow, spa_app):
    """form-action names the registered loopback origin (any port), never the request's text."""
    page = flow.authorize(spa_app, redirect_uri="http://127.0.0.1:8765/callback")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' http://127.0.0.1:*;" in csp
    assert csp.count("frame-ancestors") == 1 and "frame-ancestors 'none'" in csp


@pytest.mark.parametrize(
    "path",
    [
        "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri={bad}&scope=openid",
        "/oauth/authorize?response_type=code&client_id={cid}&redirect_uri={ok}&scope=x&state={bad}",
        "/oauth/logout?client_id={cid}&post_logout_redirect_uri={bad}&state={bad}",
        "/login?next={bad}",
        "/register?next={bad}",
        "/account?x={bad}",
        "/developers/apps/{bad}",
        "/no/such/{bad}",
    ],
)
def test_checklist_9_header_values_never_carry_request_text(flow, spa_app, path):
    """Issue 12 item 1: no header value is built from request text (the CSP injection class)."""
    from urllib.parse import quote

    url = path.format(
        cid=spa_app.client_id, bad=quote(HOSTILE_LOOPBACK, safe=""), ok=quote(SPA_REDIRECT)
    )
    response = flow.client.get(url)
    text = _header_text(response)
    assert "frame-ancestors *" not in text and "x;" not in text, text
    assert response.status_code < 500


@pytest.mark.parametrize(
    "uri",
    [
        "https://x;sandbox/cb",
        "https://a,b.example/cb",
        "https://app.example.com'/cb",
        "https://é.example/cb",
    ],
)
def test_checklist_2_redirect_host_is_a_plain_hostname(uri):
    """A registered host ends up in the consent page's CSP: letters, digits, dots, dashes only."""
    with pytest.raises(InvalidRedirectUri, match="host"):
        check_redirect_uri(uri, "web")


@pytest.mark.parametrize(
    "next_url",
    ["/account;frame-ancestors *", "/account\r\nSet-Cookie: x=1", "/é ü"],
)
def test_checklist_9_login_redirect_location_is_not_request_text(client, auth, user, next_url):
    """The `next` a login returns to reaches the Location header encoded, never raw (no 500)."""
    response = auth.login(next_url=quote(next_url, safe="/"))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert all(33 <= ord(c) < 127 for c in location), location
    assert "frame-ancestors *" not in _header_text(response)


def test_checklist_9_login_next_with_a_nul_is_refused_at_the_edge(client, auth, user):
    """A NUL never reaches safe_next: the edge refuses it with a page, and nothing is redirected."""
    response = auth.login(next_url=quote("/account\x00", safe="/"))
    assert response.status_code == 400 and "Location" not in response.headers
