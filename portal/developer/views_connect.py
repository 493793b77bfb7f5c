"""The Connect tab: how to use an app, filled with its own values, and an authorize URL builder.

Everything here is computed per request from the app's row and the settings; nothing is stored.
The PKCE pair the builder shows is made fresh on every view and kept nowhere (the page is
no-store), so it is shown once. "Try it" lives in views_debugger.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import render_template, request, url_for

from idp.domain.clients import APP_TYPES
from idp.services import app_specs
from idp.web.context import tessera
from idp.web.forms import ConfirmForm
from idp.web.oidc import metadata
from portal.developer.blueprint import bp, my_app
from portal.developer.snippets import AppFacts, snippets_for

# The metadata endpoints each kind of app calls, in the order it calls them.
ENDPOINTS_BY_TYPE = {
    "redirect": (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "end_session_endpoint",
    ),
    "service": ("token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"),
    "device": (
        "device_authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
    ),
}
REDIRECT_PLACEHOLDER = "https://your-app.example/callback"


@dataclass(frozen=True)
class PkcePair:
    verifier: str
    challenge: str


def pkce_pair() -> PkcePair:
    """RFC 7636 4.1/4.2: a 64-character verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return PkcePair(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def debugger_uri(client_id: str) -> str:
    """Tessera's own callback for "Try it", under the issuer (what the app must register)."""
    path = url_for("developer.debugger", client_id=client_id)
    return tessera().settings.ISSUER.rstrip("/") + path


def default_scope(held: list[str]) -> str:
    """openid plus what the app holds that is not restricted (those need an approval)."""
    catalogue = tessera().catalogue
    picked = [s for s in held if not catalogue.scopes[s].restricted and s != "offline_access"]
    return " ".join(picked) or "openid"


def _kind(app_type: str) -> str:
    return app_type if app_type in ("service", "device") else "redirect"


def _builder(client, held: list[str], redirect_uris: list[str]) -> dict | None:
    """The URL the developer asked for (GET ?build=1), with a fresh PKCE pair; else None."""
    if request.args.get("build") != "1":
        return None
    scopes = [s for s in request.args.getlist("scope") if s in held] or ["openid"]
    redirect_uri = request.args.get("redirect_uri", "")
    if redirect_uri not in redirect_uris:
        return {"error": "Pick one of the app's registered redirect URIs."}
    pair = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": secrets.token_urlsafe(16),
        "code_challenge": pair.challenge,
        "code_challenge_method": "S256",
    }
    if "openid" in scopes:
        query["nonce"] = secrets.token_urlsafe(16)
    url = tessera().settings.ISSUER.rstrip("/") + "/oauth/authorize?" + urlencode(query)
    return {"url": url, "pkce": pair, "scopes": scopes, "redirect_uri": redirect_uri}


@bp.route("/apps/<client_id>/connect")
def connect(client_id: str):
    client = my_app(client_id).client
    app_type = APP_TYPES[client.app_type]
    held = app_specs.held_scopes(
        client.app_type, list(client.allowed_scopes or []), tessera().catalogue
    )
    redirect_uris = list(client.redirect_uris or [])
    doc = metadata()
    facts = AppFacts(
        issuer=doc["issuer"],
        client_id=client.client_id,
        app_type=client.app_type,
        confidential=app_type.confidential,
        redirect_uri=redirect_uris[0] if redirect_uris else REDIRECT_PLACEHOLDER,
        scope=" ".join(held) if client.app_type == "service" else default_scope(held),
    )
    endpoints = [(name, doc.get(name)) for name in ENDPOINTS_BY_TYPE[_kind(client.app_type)]]
    debugger = debugger_uri(client.client_id) if app_type.redirects else None
    return render_template(
        "portal/connect.html",
        client=client,
        app_type=app_type,
        facts=facts,
        discovery_url=doc["issuer"].rstrip("/") + "/.well-known/openid-configuration",
        endpoints=[(n, u) for n, u in endpoints if u],
        snippets=snippets_for(facts),
        held=held,
        redirect_uris=redirect_uris,
        builder=_builder(client, held, redirect_uris) if app_type.redirects else None,
        debugger=debugger,
        debugger_registered=debugger in redirect_uris if debugger else False,
        form=ConfirmForm(),
    )
