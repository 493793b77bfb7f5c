"""The authorization endpoint (RFC 6749 4.1, OIDC Core 3.1.2): checks, login, consent, code.

GET runs the declared checks (idp.web.authorize.pipeline), Authlib's validation (scope, PKCE),
then asks the user to sign in or consent when needed; the consent form POSTs back here. Every
refusal is answered by idp.web.authorize.responses.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Blueprint, Response, redirect, request, session, url_for

from idp.domain.clients import ClientPolicy, missing_consent
from idp.errors import AccessDenied, OAuthError
from idp.protocol import CodeContext
from idp.services import consent
from idp.web.authorize.consent_page import (
    check_pending_id,
    consent_page,
    forget_pending,
    pending_request,
)
from idp.web.authorize.pipeline import (
    REQUEST_CHECKS,
    TRUST_CHECKS,
    AuthorizationRequest,
    consent_possible,
    login_possible,
    run,
)
from idp.web.authorize.responses import authlib_refusals, refusal
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm
from idp.web.mfa import required_authentication
from idp.web.recovery import consent_gate
from idp.web.sessions import current_login_session, current_user

bp = Blueprint("oauth_authorize", __name__)

# "pending_": kept across sign_in (idp.web.sessions), like the pending consent.
LOGIN_MARK = "pending_fresh_login"


def _authorization_request(query: dict[str, list[str]], query_length: int) -> AuthorizationRequest:
    services = tessera()

    def find_client(client_id: str) -> ClientPolicy | None:
        client = services.oauth.query_client(client_id)
        return client.policy if client is not None else None

    return AuthorizationRequest(
        query=query,
        query_length=query_length,
        find_client=find_client,
        resources=services.settings.resources,
        default_audience=services.settings.audience,
    )


def _request_digest(auth: AuthorizationRequest) -> str:
    """Names one authorization request: its every parameter (state, nonce, PKCE challenge)."""
    text = json.dumps(sorted(auth.query.items()), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _fresh_login_for(auth: AuthorizationRequest, mark: object) -> bool:
    """The login we sent the user to was made for this very request, and happened since."""
    login_session = current_login_session()
    return (
        isinstance(mark, dict)
        and isinstance(mark.get("at"), int)
        and secrets.compare_digest(str(mark.get("request")), _request_digest(auth))
        and login_session.auth_time.timestamp() >= mark["at"]
    )


def _needs_login(auth: AuthorizationRequest, mark: object) -> bool:
    """OIDC Core 3.1.2.1: prompt=login and max_age ask for a login newer than the request."""
    login_session = current_login_session()
    if current_user() is None or login_session is None:
        return True
    if _fresh_login_for(auth, mark):
        return False
    if "login" in auth.prompt:
        return True
    max_age = auth.params.get("max_age")
    auth_time = login_session.auth_time.timestamp()
    return max_age is not None and time.time() - auth_time > int(max_age)


def _send_to_login(auth: AuthorizationRequest | None = None) -> Response:
    if auth is not None:
        # The mark is for this request only; it rides in the session across the login.
        session[LOGIN_MARK] = {"request": _request_digest(auth), "at": int(time.time())}
    return redirect(url_for("auth.login", next=request.full_path), code=303)


def _validated_grant(auth: AuthorizationRequest, user: Any) -> Any:
    """Authlib's checks (scope, PKCE); its refusals come out as ours."""
    url = f"{tessera().settings.ISSUER.rstrip('/')}/oauth/authorize"
    oauth_request = OAuth2Request("GET", url, headers=dict(request.headers))
    oauth_request.payload = BasicOAuth2Payload(auth.params)
    with authlib_refusals():
        return tessera().oauth.get_consent_grant(request=oauth_request, end_user=user)


def _issue_code(grant: Any, grant_pk: int, audience: str) -> Response:
    """The code for a consented request; stored in the consent service's transaction."""
    login_session = current_login_session()
    context = CodeContext(grant_pk, audience, login_session.auth_time, login_session.amr)
    with authlib_refusals():
        return tessera().oauth.issue_code(grant, current_user(), context)


def _approve(
    auth: AuthorizationRequest, grant: Any, scopes: tuple[str, ...], implied: bool = False
) -> Response:
    """Consent recorded (or found) and the code issued, in the consent service's transaction."""
    return consent.approve(
        uow(),
        caller(),
        current_user(),
        auth.client,
        scopes,
        lambda row: _issue_code(grant, row.id, auth.audience),
        implied=implied,
    )


def _decide(auth: AuthorizationRequest, mark: object) -> Response:
    """After the checks: sign in if needed, then consent or a code."""
    grant = _validated_grant(auth, current_user())
    if _needs_login(auth, mark):
        login_possible(auth)
        return _send_to_login(auth)
    step_up = required_authentication(auth.params, auth.prompt)  # acr_values (idp.web.mfa)
    if step_up is not None:
        return step_up
    scopes = tuple(grant.request.scope.split())
    if auth.client.first_party and "consent" not in auth.prompt:
        # An admin's mark: consent implied and recorded as such (prompt=consent still asks).
        return _approve(auth, grant, scopes, implied=True)
    existing, granted = consent.granted_scopes(uow(), current_user().id, auth.client.pk)
    missing = missing_consent(granted, scopes)
    if existing is not None and not missing and "consent" not in auth.prompt:
        return _approve(auth, grant, scopes)
    consent_possible(auth)
    if (unverified := consent_gate(current_user())) is not None:
        return unverified
    return consent_page(auth.client, auth.params, auth.registered_redirect_uri, scopes, missing)


def _answer_consent(auth: AuthorizationRequest, decision: str | None) -> Response:
    grant = _validated_grant(auth, current_user())
    scopes = tuple(grant.request.scope.split())
    if decision != "allow":
        consent.record_denial(uow(), caller(), current_user(), auth.client, scopes)
        raise AccessDenied("The user denied the request.")
    if (unverified := consent_gate(current_user())) is not None:
        return unverified
    return _approve(auth, grant, scopes)


@bp.route("/oauth/authorize", methods=["GET"])
def authorize() -> Response:
    # A fresh-login mark is used up by the next authorization request, whatever its outcome.
    mark = session.pop(LOGIN_MARK, None)
    auth = _authorization_request(request.args.to_dict(flat=False), len(request.query_string))
    try:
        run(TRUST_CHECKS, auth)
        run(REQUEST_CHECKS, auth)
        return _decide(auth, mark)
    except OAuthError as refused:
        return refusal(refused, auth)


@bp.route("/oauth/authorize", methods=["POST"])
def consent_decision() -> Response:
    session.pop(LOGIN_MARK, None)
    try:
        pending = pending_request(ConfirmForm().validate_on_submit())
        check_pending_id(pending, request.form.get("pending_id", ""))
    except OAuthError as refused:
        return refusal(refused, None)
    if current_user() is None:
        return _send_to_login()
    forget_pending()
    auth = _authorization_request({k: [v] for k, v in pending["params"].items()}, 0)
    try:
        run(TRUST_CHECKS, auth)
        run(REQUEST_CHECKS, auth)
        return _answer_consent(auth, request.form.get("decision"))
    except OAuthError as refused:
        return refusal(refused, auth)
