"""The authorization endpoint (RFC 6749 4.1, OIDC Core 3.1.2): login, consent, code.

The request goes through an ordered list of checks. Until the client and its redirect URI are
known good, every failure is an error page; after that, errors go back to the app with `iss`
(RFC 9207) and `state` (SECURITY-CHECKLIST 3, 4, 7).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from idp.domain.clients import ClientPolicy, missing_consent, redirect_uri_matches
from idp.extensions import db
from idp.services import consent
from idp.web.context import caller, tessera
from idp.web.errors import render_error
from idp.web.forms import ConfirmForm
from idp.web.headers import CSP
from idp.web.sessions import current_login_session, current_user

bp = Blueprint("oauth_authorize", __name__)

PENDING_KEY = "pending_consent"
LOGIN_MARK = "pending_login_at"
MAX_QUERY = 2048  # the pending request rides in the session cookie (4 KiB limit)
SINGLE_VALUED = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age",
    "code_challenge", "code_challenge_method", "login_hint", "resource", "response_mode",
)  # fmt: skip


@dataclass(frozen=True)
class CodeContext:
    """What the stored code remembers beyond Authlib's fields."""

    grant_pk: int
    audience: str
    auth_time: datetime
    amr: str


class Refusal(Exception):
    """An error that goes back to the app (client and redirect URI are already trusted)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _error_page(message: str) -> Response:
    return render_error(400, message)


def _redirect_with(redirect_uri: str, params: list[tuple[str, str]]) -> Response:
    response = redirect(add_params_to_uri(redirect_uri, params), code=303)
    return response


def _error_redirect(
    redirect_uri: str, refused: Refusal | OAuth2Error, state: str | None
) -> Response:
    if isinstance(refused, Refusal):
        description = refused.description
    else:
        description = refused.get_error_description()
    params = [("error", refused.error), ("error_description", description)]
    if state:
        params.append(("state", state))
    params.append(("iss", tessera().settings.ISSUER))
    return _redirect_with(redirect_uri, params)


def _identify_client(params: dict[str, list[str]]) -> tuple[ClientPolicy, str] | Response:
    """Steps 1-3: parameters not repeated, the client known and active, the redirect URI registered."""
    for name in SINGLE_VALUED:
        if len(params.get(name, [])) > 1:
            return _error_page(f"The parameter {name} was sent more than once (RFC 6749 3.1).")
    client_id = (params.get("client_id") or [""])[0]
    if not client_id:
        return _error_page(
            "The request has no client_id: the app that sent you here is misconfigured."
        )
    client = tessera().oauth.query_client(client_id)
    if client is None:
        return _error_page("The app that sent you here is not registered with Tessera.")
    policy = client.policy
    if policy.suspended:
        return _error_page(f"The app {policy.name} is suspended.")
    redirect_uri = (params.get("redirect_uri") or [""])[0]
    is_openid = "openid" in (params.get("scope") or [""])[0].split()
    if not redirect_uri:
        if is_openid or len(policy.redirect_uris) != 1:
            return _error_page("The request has no redirect_uri, and this app must name one.")
        redirect_uri = policy.redirect_uris[0]
    elif not redirect_uri_matches(redirect_uri, policy.redirect_uris):
        return _error_page(
            "The redirect_uri is not registered for this app, so Tessera will not send you there."
        )
    return policy, redirect_uri


def _check_protocol(params: dict[str, str]) -> str:
    """Steps 4-6: things Authlib does not reject for us. Returns the audience."""
    if "request" in params:
        raise Refusal("request_not_supported", "Request objects are not supported.")
    if "request_uri" in params:
        raise Refusal("request_uri_not_supported", "request_uri is not supported.")
    if params.get("response_type") != "code":
        raise Refusal("unsupported_response_type", "Only response_type=code is supported.")
    if params.get("response_mode") not in (None, "query"):
        raise Refusal("invalid_request", "Only response_mode=query is supported.")
    max_age = params.get("max_age")
    if max_age is not None and (not max_age.isdigit() or len(max_age) > 9):
        raise Refusal("invalid_request", "max_age must be a number of seconds.")
    settings = tessera().settings
    resource = params.get("resource")
    if resource and resource not in settings.resources:
        raise Refusal("invalid_target", "The requested resource is not known to this server.")
    return resource or settings.audience


def _needs_login(params: dict[str, str]) -> bool:
    login_session = current_login_session()
    if current_user() is None or login_session is None:
        return True
    auth_time = login_session.auth_time.timestamp()
    marked = session.get(LOGIN_MARK)
    if isinstance(marked, int | float) and auth_time >= marked:
        return False  # this is the fresh login we asked for
    if "login" in params.get("prompt", "").split():
        return True
    max_age = params.get("max_age")
    return max_age is not None and time.time() - auth_time > int(max_age)


def _send_to_login() -> Response:
    session[LOGIN_MARK] = int(time.time())
    return redirect(url_for("auth.login", next=request.full_path), code=303)


def _oauth_request(params: dict[str, str]) -> OAuth2Request:
    url = f"{tessera().settings.ISSUER.rstrip('/')}/oauth/authorize"
    oauth_request = OAuth2Request("GET", url, headers=dict(request.headers))
    oauth_request.payload = BasicOAuth2Payload(params)
    return oauth_request


def _issue_code(grant, params: dict[str, str], grant_pk: int, audience: str) -> Response:
    login_session = current_login_session()
    context = CodeContext(grant_pk, audience, login_session.auth_time, login_session.amr)
    session.pop(LOGIN_MARK, None)
    # Stores the code, commits, and redirects with 303 (RFC 9700 4.12: never 307 after a POST).
    return tessera().oauth.issue_code(grant, current_user(), context)


def _consent_page(
    policy: ClientPolicy, params: dict[str, str], scopes: tuple[str, ...], missing: list[str]
):
    pending_id = secrets.token_urlsafe(16)
    session[PENDING_KEY] = {"id": pending_id, "params": params, "at": int(time.time())}
    services = tessera()
    client = services.oauth.uow().clients.by_client_id(policy.client_id)
    owner = services.oauth.uow().users.get(client.owner_id) if client.owner_id else None
    catalogue = services.catalogue
    rows = [(catalogue.scopes[s], s in missing) for s in scopes if s in catalogue.scopes]
    html = render_template(
        "idp/consent.html",
        client=client,
        owner=owner,
        scope_rows=rows,
        pending_id=pending_id,
        form=ConfirmForm(),
        user=current_user(),
    )
    # The Allow button's redirect leaves for the app: form-action must allow its origin.
    target = urlsplit(params["redirect_uri"])
    origin = (
        f"{target.scheme}://{target.netloc}"
        if target.scheme in ("http", "https")
        else f"{target.scheme}:"
    )
    response = Response(html)
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )
    return response


def _decide(params: dict[str, str], policy: ClientPolicy, redirect_uri: str) -> Response:
    """Steps 7-9: validate with Authlib, log in if needed, then consent or issue a code."""
    audience = _check_protocol(params)
    prompt = params.get("prompt", "").split()
    server = tessera().oauth
    grant = server.get_consent_grant(request=_oauth_request(params), end_user=current_user())
    if _needs_login(params):
        if "none" in prompt:
            raise Refusal("login_required", "The user is not signed in.")
        return _send_to_login()
    user = current_user()
    scopes = tuple(grant.request.scope.split())
    existing, granted = consent.granted_scopes(server.uow(), user.id, policy.pk)
    missing = missing_consent(granted, scopes)
    if existing is not None and not missing and "consent" not in prompt:
        return _issue_code(grant, params, existing.id, audience)
    if "none" in prompt:
        raise Refusal("consent_required", "The user has not consented to these scopes.")
    return _consent_page(policy, {**params, "redirect_uri": redirect_uri}, scopes, missing)


@bp.route("/oauth/authorize", methods=["GET"])
def authorize() -> Response:
    if len(request.query_string) > MAX_QUERY:
        return _error_page("The authorization request is too long.")
    raw = request.args.to_dict(flat=False)
    identified = _identify_client(raw)
    if isinstance(identified, Response):
        return identified
    policy, redirect_uri = identified
    params = {k: v[0] for k, v in raw.items()}
    params["redirect_uri"] = redirect_uri
    try:
        return _decide(params, policy, redirect_uri)
    except (Refusal, OAuth2Error) as refused:
        return _error_redirect(redirect_uri, refused, params.get("state"))


@bp.route("/oauth/authorize", methods=["POST"])
def consent_decision() -> Response:
    form = ConfirmForm()
    pending = session.get(PENDING_KEY)
    user = current_user()
    if not form.validate_on_submit() or not isinstance(pending, dict):
        return _error_page("This consent form has expired. Go back to the app and start again.")
    if not secrets.compare_digest(str(pending.get("id")), request.form.get("pending_id", "")):
        return _error_page("This consent form does not belong to the pending request.")
    if user is None:
        return _send_to_login()
    session.pop(PENDING_KEY, None)
    params = pending["params"]
    identified = _identify_client({k: [v] for k, v in params.items()})
    if isinstance(identified, Response):
        return identified
    policy, redirect_uri = identified
    try:
        audience = _check_protocol(params)
        server = tessera().oauth
        grant = server.get_consent_grant(request=_oauth_request(params), end_user=user)
        scopes = tuple(grant.request.scope.split())
        if request.form.get("decision") != "allow":
            consent.record_denial(server.uow(), caller(), user, policy, scopes)
            db.session.commit()
            raise Refusal("access_denied", "The user denied the request.")
        grant_row = consent.record_consent(server.uow(), caller(), user, policy, scopes)
        return _issue_code(grant, params, grant_row.id, audience)
    except (Refusal, OAuth2Error) as refused:
        return _error_redirect(redirect_uri, refused, params.get("state"))
