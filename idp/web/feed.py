"""The revocation feed for resource servers.

Its consumer is tessera_middleware.revocation, in the separate middleware/ distribution.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, Response, jsonify, request

from idp.domain.clock import utcnow
from idp.domain.request_text import ascii_int
from idp.protocol.answers import to_flask
from idp.services import revocation
from idp.services.token_inspection import RESOURCE_SERVER_SCOPE
from idp.web.context import tessera
from idp.web.context import uow as request_uow
from idp.web.errors import oauth_error

bp = Blueprint("feed", __name__, url_prefix="/oauth")


@bp.route("/revocations", methods=["GET"])
def revocations() -> Response:
    services = tessera()
    server = services.oauth
    oauth_request = server.create_oauth2_request(None)
    try:
        client = server.authenticate_client(
            oauth_request, ["client_secret_basic"], "revocation_feed"
        )
    except OAuth2Error as error:
        return to_flask(server.handle_error_response(oauth_request, error))
    if RESOURCE_SERVER_SCOPE not in client.policy.allowed_scopes:
        return oauth_error(
            "unauthorized_client", f"This app needs the {RESOURCE_SERVER_SCOPE} scope.", 403
        )
    since_raw = request.args.get("since")
    uow = request_uow()
    since = ascii_int(since_raw)
    if since_raw is not None and (since is None or since > uow.revocations.latest_id()):
        return oauth_error(
            "invalid_cursor", "Unknown cursor: fetch a full snapshot without since.", 410
        )
    body = revocation.feed(uow, since, utcnow(), services.settings.REVOCATION_POLL_INTERVAL)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
