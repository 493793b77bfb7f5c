""" "Try it": run the authorization code flow against your own account and see the tokens.

Design (docs/guide/connect.md#try-it): the flow uses Tessera's own callback,
/developers/apps/<id>/debugger, as its redirect_uri, because a code can only be exchanged with
the redirect_uri it was issued for. The developer adds that URI to the app with one click, in
plain sight among the app's redirect URIs (Auth0's debugger works the same way); nothing is
added behind their back. The PKCE verifier, state and nonce travel in the developer's session,
encrypted, for that one flow. The code is exchanged by Tessera through its own token endpoint,
in process, with the same client authentication and PKCE checks any client meets: a public
app needs nothing more, a confidential one needs its secret pasted once into the form (Tessera
keeps only its hash, so it cannot exchange for a confidential app on its own). The token
response is decoded for the page and kept nowhere: not in the database, the session or a log,
and the page is no-store.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.fernet import Fernet, InvalidToken
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.test import EnvironBuilder, run_wsgi_app

from idp.domain.clients import APP_TYPES
from idp.errors import FieldErrors
from idp.services import apps
from idp.services.own_tokens import decode_access_token, decode_id_token_hint
from idp.storage.keystore import fernet_from
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm
from idp.web.sessions import current_user
from portal.developer.blueprint import bp, my_app
from portal.developer.views_connect import debugger_uri, default_scope, pkce_pair

FLOW_KEY = "portal_debugger_flow"
FLOW_TTL = 600  # seconds a started flow may take to come back


def _sealer() -> Fernet:
    return fernet_from(current_app.config["SECRET_KEY"], purpose="debugger-flow")


def _redirect_app(client_id: str):
    found = my_app(client_id)
    if not APP_TYPES[found.client.app_type].redirects:
        abort(404)  # services and devices have no authorization code flow to try
    return found.client


@bp.route("/apps/<client_id>/debugger/register", methods=["POST"])
def debugger_register(client_id: str):
    """One click: add Tessera's callback to the app's redirect URIs (audited as any edit)."""
    client = _redirect_app(client_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    uri = debugger_uri(client.client_id)
    if uri not in (client.redirect_uris or []):
        try:
            with uow() as work:
                apps.update_app(
                    work, tessera().catalogue, caller(), client, current_user().id,
                    redirect_uris=[*(client.redirect_uris or []), uri],
                )  # fmt: skip
        except FieldErrors as exc:
            flash(" ".join(m for ms in exc.errors.values() for m in ms), "error")
        else:
            flash(f"{uri} is now a redirect URI of this app.", "success")
    return redirect(url_for("developer.connect", client_id=client.client_id) + "#try-it", 303)


@bp.route("/apps/<client_id>/debugger/start", methods=["POST"])
def debugger_start(client_id: str):
    client = _redirect_app(client_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    uri = debugger_uri(client.client_id)
    if uri not in (client.redirect_uris or []):
        flash("Add Tessera's debugger callback to the app's redirect URIs first.", "error")
        return redirect(url_for("developer.connect", client_id=client.client_id), 303)
    held = list(client.allowed_scopes or [])
    scopes = [s for s in request.form.getlist("scope") if s in held] or default_scope(
        [s for s in held if s in tessera().catalogue.scopes]
    ).split()
    pair, state, nonce = pkce_pair(), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    flow = {
        "client_id": client.client_id,
        "state": state,
        "nonce": nonce,
        "verifier": pair.verifier,
    }
    session[FLOW_KEY] = _sealer().encrypt(json.dumps(flow).encode()).decode()
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": uri,
        "scope": " ".join(scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": pair.challenge,
        "code_challenge_method": "S256",
    }
    return redirect(url_for("oauth_authorize.authorize") + "?" + urlencode(query), 303)


def _flow(client_id: str) -> dict[str, Any] | None:
    """The flow this browser started for this app, if it is recent and untampered."""
    sealed = session.get(FLOW_KEY)
    if not isinstance(sealed, str):
        return None
    try:
        flow = json.loads(_sealer().decrypt(sealed.encode(), ttl=FLOW_TTL))
    except (InvalidToken, ValueError):
        return None
    return flow if flow.get("client_id") == client_id else None


@bp.route("/apps/<client_id>/debugger", methods=["GET", "POST"])
def debugger(client_id: str):
    client = _redirect_app(client_id)
    confidential = APP_TYPES[client.app_type].confidential
    flow = _flow(client.client_id)
    values = request.form if request.method == "POST" else request.args
    code, state = values.get("code", ""), values.get("state", "")
    context: dict[str, Any] = {"client": client, "confidential": confidential}
    if values.get("error"):
        context["error"] = f"{values.get('error')}: {values.get('error_description', '')}"
    elif flow is None or not code or not secrets.compare_digest(state, flow["state"]):
        context["error"] = "This is not the answer to a flow you started here; start again."
    elif confidential and request.method == "GET":
        context["ask_secret"] = {"code": code, "state": state}
        context["form"] = ConfirmForm()
        return render_template("portal/debugger.html", **context)
    elif confidential and not ConfirmForm().validate_on_submit():
        abort(400)
    else:
        session.pop(FLOW_KEY, None)  # one exchange per flow
        secret = request.form.get("client_secret", "") if confidential else None
        context["result"] = result = _exchange(client, code, flow["verifier"], secret)
        id_claims = result["decoded"].get("id_token", {}).get("claims", {})
        context["nonce_ok"] = id_claims.get("nonce") == flow.get("nonce")
    return render_template("portal/debugger.html", **context)


def _exchange(client: Any, code: str, verifier: str, secret: str | None) -> dict[str, Any]:
    """POST the code to Tessera's token endpoint, in process, as the app would over HTTP."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": debugger_uri(client.client_id),
        "code_verifier": verifier,
    }
    if secret is None:
        form["client_id"] = client.client_id
    builder = EnvironBuilder(
        path="/oauth/token",
        base_url=tessera().settings.ISSUER.rstrip("/"),
        method="POST",
        data=form,
        auth=(client.client_id, secret) if secret is not None else None,
    )
    try:
        body, status, _ = run_wsgi_app(current_app.wsgi_app, builder.get_environ())
        response = json.loads(b"".join(body))
    finally:
        builder.close()
    return {"status": status, "response": response, **_decoded(response)}


def _decoded(response: dict[str, Any]) -> dict[str, Any]:
    """Header and claims of each JWT in the response, and whether Tessera's keys verify it."""
    services, found = tessera(), {}
    checks = {"access_token": decode_access_token, "id_token": decode_id_token_hint}
    for name, check in checks.items():
        token = response.get(name)
        if not isinstance(token, str):
            continue
        try:
            found[name] = {
                "header": jwt.get_unverified_header(token),
                "claims": jwt.decode(token, options={"verify_signature": False}),
                "verified": check(services.keystore, services.settings, token) is not None,
            }
        except jwt.PyJWTError:
            found[name] = {"opaque": True}
    return {"decoded": found}
