"""CORS for the Flask-served endpoints an SPA calls (userinfo), over idp.domain.cors.

The token and revocation endpoints answer in front of Flask (idp.protocol.machine_endpoints)
with the same policy; discovery and the JWKS answer `*` (idp.web.oidc, reason in the domain
module). Answers carry `Vary: Origin` whether or not they grant, so no cache mixes them up.
"""

from __future__ import annotations

from flask import Response, request

from idp.domain.cors import (
    Preflight,
    actual_headers,
    is_cross_origin,
    origin_allowed,
    origin_of,
    preflight_headers,
)
from idp.web.context import tessera


def _own_origins() -> set[str | None]:
    return {origin_of(request.host_url), origin_of(tessera().settings.ISSUER)}


def preflight(spec: Preflight) -> Response:
    """An OPTIONS answer: granted to an origin some SPA app registered, else only `Vary`."""
    origin = request.headers.get("Origin")
    granted = origin if origin and origin in tessera().spa_origins else None
    response = Response(status=204)
    response.headers["Allow"] = ", ".join(("OPTIONS", *spec.methods))
    for name, value in preflight_headers(granted, spec):
        response.headers.add(name, value)
    return response


def allow_client_origin(response: Response, client_id: str | None) -> Response:
    """Let the request's origin read `response` when it belongs to the SPA `client_id`.

    Without a client (the token was missing, expired or not ours), an origin some SPA
    registered may read the Bearer error, so the SPA learns to sign in again; the error says
    nothing about anyone.
    """
    origin = request.headers.get("Origin")
    headers = [("Vary", "Origin")]
    if is_cross_origin(origin, _own_origins()):
        if client_id is None:
            granted = origin in tessera().spa_origins
        else:
            client = tessera().oauth.query_client(client_id)
            granted = client is not None and origin_allowed(
                origin, client.policy.app_type, client.policy.redirect_uris
            )
        if granted:
            headers = actual_headers(origin)
    for name, value in headers:
        response.headers.add(name, value)
    return response
