"""The revocation feed for resource servers, polled (/oauth/revocations) or pushed as
Server-Sent Events (/oauth/revocations/stream, docs/revocation-events.md).

Its consumer is tessera_middleware.revocation, in the separate middleware/ distribution.
"""

from __future__ import annotations

import threading

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, Response, jsonify, request

from idp.domain.clock import utcnow
from idp.domain.request_text import ascii_int
from idp.extensions import db
from idp.protocol.answers import to_flask
from idp.services import revocation
from idp.services.token_inspection import RESOURCE_SERVER_SCOPE
from idp.web.context import tessera
from idp.web.context import uow as request_uow
from idp.web.errors import oauth_error
from idp.web.event_stream import EventStream, stream_slot, watcher_for

bp = Blueprint("feed", __name__, url_prefix="/oauth")


def _refuse_unless_resource_server() -> Response | None:
    server = tessera().oauth
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
    return None


@bp.route("/revocations", methods=["GET"])
def revocations() -> Response:
    refused = _refuse_unless_resource_server()
    if refused is not None:
        return refused
    services = tessera()
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


@bp.route("/revocations/stream", methods=["GET"])
def revocation_stream() -> Response:
    """Resumable with Last-Event-ID; an unknown one (or none) starts with a snapshot."""
    refused = _refuse_unless_resource_server()
    if refused is not None:
        return refused
    services = tessera()
    uow = request_uow()
    resume = ascii_int(request.headers.get("Last-Event-ID"))
    snapshot = None
    if resume is None or resume > uow.revocations.latest_seq():
        settings = services.settings
        snapshot = revocation.feed(uow, None, utcnow(), settings.REVOCATION_POLL_INTERVAL)
        resume = snapshot["stream_seq"]
    # Taken last: from here to the EventStream, which owns it, nothing can fail.
    slot = stream_slot(services.settings.SSE_MAX_STREAMS)
    if slot is None:
        response = oauth_error("temporarily_unavailable", "Too many open event streams.", 503)
        response.headers["Retry-After"] = "5"
        return response
    watcher = watcher_for(db.engine, services.outbox)
    # Set by idp.serving when the client goes away (the dev server: never; the stream then ends
    # at its next write or after TESSERA_SSE_MAX_DURATION).
    closed = request.environ.get("tessera.stream_closed") or threading.Event()
    duration = services.settings.SSE_MAX_DURATION
    body = EventStream(watcher, resume, snapshot, slot, duration, closed)
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
