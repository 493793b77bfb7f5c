"""OpenID Connect and RFC 8414 metadata, the JWKS, userinfo, and RP-initiated logout."""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from idp.domain.claims import ACR_VALUES, user_claims
from idp.domain.clients import redirect_uri_matches
from idp.domain.cors import USERINFO_PREFLIGHT
from idp.domain.grants import SECRET_METHODS, supported_grant_types
from idp.extensions import csrf
from idp.services.own_tokens import decode_access_token, decode_id_token_hint, is_revoked
from idp.services.revocation import EVENTS_VERSION
from idp.web import cors
from idp.web.context import tessera
from idp.web.context import uow as request_uow
from idp.web.forms import ConfirmForm
from idp.web.sessions import current_user, sign_out

bp = Blueprint("oidc", __name__)


def metadata() -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 section 3 / RFC 8414 section 2."""
    services = tessera()
    device_flow = services.device_flow is not None
    doc = {
        "issuer": services.settings.ISSUER,
        **_endpoints(services.settings.ISSUER.rstrip("/")),
        "scopes_supported": sorted(services.catalogue.scopes),
        "claims_supported": sorted(
            services.catalogue.claims_for(services.catalogue.scopes)
            | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "at_hash"}
        ),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": supported_grant_types(device_flow=device_flow),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": [*SECRET_METHODS, "none"],
        "revocation_endpoint_auth_methods_supported": [*SECRET_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": [*SECRET_METHODS],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": list(ACR_VALUES),
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
        "tls_client_certificate_bound_access_tokens": False,
    }
    if device_flow:
        doc["device_authorization_endpoint"] = (
            f"{doc['issuer'].rstrip('/')}/oauth/device_authorization"
        )
    doc.update(_revocation_events(services.settings.ISSUER.rstrip("/"), services.outbox.key))
    return doc


def _revocation_events(base: str, stream_key: str | None) -> dict[str, Any]:
    """Where resource servers follow pushed revocations (docs/revocation-events.md): the SSE
    endpoint always, the Redis stream's key when Tessera writes one (never the Redis URL)."""
    doc: dict[str, Any] = {
        "tessera_revocation_events_endpoint": f"{base}/oauth/revocations/stream",
        "tessera_revocation_events_version": EVENTS_VERSION,
    }
    if stream_key is not None:
        doc["tessera_revocation_stream_key"] = stream_key
    return doc


def _endpoints(base: str) -> dict[str, str]:
    return {
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/jwks.json",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "end_session_endpoint": f"{base}/oauth/logout",
        "revocation_feed_endpoint": f"{base}/oauth/revocations",
    }


def _json(body: Any, max_age: int = 300) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/.well-known/openid-configuration")
@bp.route("/.well-known/oauth-authorization-server")
def discovery() -> Response:
    return _json(metadata(), max_age=3600)


@bp.route("/jwks.json")
def jwks() -> Response:
    return _json(tessera().keystore.jwks(), max_age=60)


def _bearer_error(status: int, error: str, description: str, scope: str | None = None) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    parts = [f'error="{error}"', f'error_description="{description}"']
    if scope:
        parts.append(f'scope="{scope}"')
    response.headers["WWW-Authenticate"] = "Bearer " + ", ".join(parts)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/oauth/userinfo", methods=["GET", "POST", "OPTIONS"])
@csrf.exempt
def userinfo() -> Response:
    if request.method == "OPTIONS":
        return cors.preflight(USERINFO_PREFLIGHT)
    response, client_id = _userinfo()
    return cors.allow_client_origin(response, client_id)


def _userinfo() -> tuple[Response, str | None]:
    """The claims, or the Bearer error; and the token's client, whose origin may read them."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        response = jsonify(
            error="invalid_request", error_description="Send the access token as a Bearer token."
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="tessera"'
        return response, None
    services = tessera()
    claims = decode_access_token(services.keystore, services.settings, token.strip())
    uow = request_uow()
    if claims is None or is_revoked(uow, claims):
        return _bearer_error(
            401, "invalid_token", "The access token is invalid, expired or revoked."
        ), None
    client_id = claims.get("client_id")
    scopes = claims.get("scope", "").split()
    if "openid" not in scopes:
        return _bearer_error(
            403, "insufficient_scope", "The openid scope is required.", "openid"
        ), client_id
    user = uow.users.by_subject(claims["sub"])
    if user is None or user.disabled_at is not None:
        return _bearer_error(401, "invalid_token", "The user no longer exists."), client_id
    response = jsonify(user_claims(user, services.catalogue.claims_for(scopes)))
    response.headers["Cache-Control"] = "no-store"
    return response, client_id


def _logout_target() -> tuple[str | None, str | None, str | None]:
    """(post_logout_redirect_uri, state, error) from an RP-initiated logout request."""
    values = request.values
    uri, state = values.get("post_logout_redirect_uri"), values.get("state")
    hint, client_id = values.get("id_token_hint"), values.get("client_id")
    services = tessera()
    if hint:
        claims = decode_id_token_hint(services.keystore, services.settings, hint)
        if claims is None:
            return None, None, "The id_token_hint is not a valid ID token from this server."
        aud = claims.get("aud")
        hinted = aud[0] if isinstance(aud, list) and aud else aud
        if client_id and client_id != hinted:
            return None, None, "client_id does not match the id_token_hint."
        client_id = hinted
    if not uri:
        return None, None, None
    client = services.oauth.query_client(client_id) if client_id else None
    if client is None:
        return None, None, "A post_logout_redirect_uri needs an id_token_hint or client_id."
    if not redirect_uri_matches(uri, client.policy.post_logout_redirect_uris):
        return None, None, "The post_logout_redirect_uri is not registered for this app."
    return uri, state, None


@bp.route("/oauth/logout", methods=["GET", "POST"])
def end_session() -> Response:
    uri, state, error = _logout_target()
    if error:
        return render_template(
            "error.html", code=400, title="Cannot sign out from here", message=error
        ), 400
    form = ConfirmForm()
    if (
        request.method == "POST"
        and form.validate_on_submit()
        and request.form.get("confirm") == "yes"
    ):
        sign_out()
        if uri:
            return redirect(add_params_to_uri(uri, [("state", state)] if state else []), code=303)
        return redirect(url_for("auth.login"), code=303)
    if current_user() is None:
        if uri:
            return redirect(add_params_to_uri(uri, [("state", state)] if state else []), code=303)
        return redirect(url_for("auth.login"), code=303)
    return render_template("idp/end_session.html", form=form, params=request.values)
