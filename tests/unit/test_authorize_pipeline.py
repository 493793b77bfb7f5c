"""The authorization endpoint's checks one by one, without Flask (RFC 6749 4.1.1, OIDC 3.1.2).

Until the client and its redirect URI are trusted a refusal is NeverRedirect (an error page,
docs/security.md#3); after that it carries the RFC code that goes back to the app.
"""

from __future__ import annotations

import pytest

from idp import errors
from idp.web.authorize import pipeline
from idp.web.authorize.pipeline import AuthorizationRequest, NeverRedirect
from tests.unit.fakes_consent import app_policy

CALLBACK = "https://market.example/callback"
APPS = {
    "market-web": app_policy(),
    "two-uris": app_policy(client_id="two-uris", redirect_uris=(CALLBACK, CALLBACK + "2")),
    "paused": app_policy(client_id="paused", name="Paused", suspended=True),
}
GOOD = {"client_id": "market-web", "redirect_uri": CALLBACK, "response_type": "code"}


def request_for(query_length: int = 0, **params: str | list[str]) -> AuthorizationRequest:
    query = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    return AuthorizationRequest(
        query=query,
        query_length=query_length,
        find_client=APPS.get,
        resources=("https://api.market.example",),
        default_audience="https://market.example",
    )


def trusted(**params: str) -> AuthorizationRequest:
    request = request_for(**{**GOOD, **params})
    pipeline.run(pipeline.TRUST_CHECKS, request)
    return request


def refusal(check, request) -> errors.OAuthError:
    with pytest.raises(errors.OAuthError) as excinfo:
        check(request)
    return excinfo.value


def test_a_good_request_passes_every_check():
    request = trusted(state="xyz")
    pipeline.run(pipeline.REQUEST_CHECKS, request)
    assert request.client.client_id == "market-web"
    assert (request.redirect_uri, request.audience, request.state) == (
        CALLBACK,
        "https://market.example",
        "xyz",
    )


@pytest.mark.parametrize(
    ("check", "request_", "message"),
    [
        (pipeline.reject_long_query, request_for(2049), "too long"),
        (
            pipeline.reject_repeated_parameters,
            request_for(scope=["openid", "profile"]),
            "scope was sent more than once",
        ),
        (pipeline.require_client_id, request_for(client_id=""), "no client_id"),
        (pipeline.load_client, request_for(client_id="nobody"), "not registered"),
    ],
)
def test_checks_before_the_client_is_known_never_redirect(check, request_, message):
    refused = refusal(check, request_)
    assert isinstance(refused, NeverRedirect) and message in refused.description


def test_rfc6749_3_1_a_query_at_the_limit_passes():
    pipeline.reject_long_query(request_for(pipeline.MAX_QUERY))


def test_a_suspended_app_is_named_on_the_error_page():
    request = request_for(client_id="paused")
    pipeline.load_client(request)
    refused = refusal(pipeline.reject_suspended_client, request)
    assert (
        isinstance(refused, NeverRedirect) and refused.description == "The app Paused is suspended."
    )


@pytest.mark.parametrize(
    ("client_id", "scope"),
    [("market-web", "openid profile"), ("two-uris", "profile")],
)
def test_checklist_11_redirect_uri_required_for_openid_or_several_uris(client_id, scope):
    request = request_for(client_id=client_id, scope=scope)
    pipeline.load_client(request)
    refused = refusal(pipeline.default_redirect_uri, request)
    assert isinstance(refused, NeverRedirect)


def test_rfc6749_3_1_2_3_the_single_registered_uri_is_the_default():
    request = trusted(redirect_uri="", scope="profile")
    assert request.redirect_uri == request.params["redirect_uri"] == CALLBACK


def test_checklist_1_unregistered_redirect_uri_never_redirects():
    request = request_for(**{**GOOD, "redirect_uri": "https://evil.example/callback"})
    pipeline.load_client(request)
    pipeline.default_redirect_uri(request)
    refused = refusal(pipeline.check_redirect_uri, request)
    assert isinstance(refused, NeverRedirect) and "not registered" in refused.description


@pytest.mark.parametrize(
    ("check", "params", "error"),
    [
        (pipeline.reject_request_object, {"request": "eyJ..."}, errors.RequestNotSupported),
        (pipeline.reject_request_uri, {"request_uri": "urn:x"}, errors.RequestUriNotSupported),
        (pipeline.check_response_type, {"response_type": "token"}, errors.UnsupportedResponseType),
        (pipeline.check_response_mode, {"response_mode": "fragment"}, errors.InvalidRequest),
        (pipeline.check_max_age, {"max_age": "-1"}, errors.InvalidRequest),
        (pipeline.check_max_age, {"max_age": "1234567890"}, errors.InvalidRequest),
        (pipeline.check_resource, {"resource": "https://other.example"}, errors.InvalidTarget),
    ],
)
def test_checks_after_trust_refuse_with_the_rfc_code(check, params, error):
    refused = refusal(check, trusted(**params))
    assert type(refused) is error and not isinstance(refused, NeverRedirect)


def test_rfc8707_a_known_resource_becomes_the_audience():
    request = trusted(resource="https://api.market.example")
    pipeline.check_resource(request)
    assert request.audience == "https://api.market.example"


@pytest.mark.parametrize(
    ("check", "error"),
    [
        (pipeline.login_possible, errors.LoginRequired),
        (pipeline.consent_possible, errors.ConsentRequired),
    ],
)
def test_oidc_3_1_2_1_prompt_none_refuses_instead_of_asking(check, error):
    check(trusted(prompt="login"))
    assert type(refusal(check, trusted(prompt="none"))) is error


def test_the_checks_run_in_the_declared_order():
    names = [c.__name__ for c in (*pipeline.TRUST_CHECKS, *pipeline.REQUEST_CHECKS)]
    assert names.index("load_client") < names.index("reject_suspended_client")
    assert names.index("check_redirect_uri") < names.index("reject_request_object")
    assert names[-1] == "check_resource"
