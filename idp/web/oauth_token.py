"""Token, revocation and introspection endpoints: JSON in RFC 6749 5.2 shape, never cached."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from idp.adapters.models.base import utcnow
from idp.extensions import csrf, db
from idp.web.context import tessera

bp = Blueprint("oauth_token", __name__, url_prefix="/oauth")


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _malformed() -> Response | None:
    """RFC 6749 3.1 / 3.2: form-encoded POST, every parameter at most once, nothing in the query."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return oauth_error(
            "invalid_request", "Send parameters as application/x-www-form-urlencoded."
        )
    if request.args:
        return oauth_error("invalid_request", "Parameters belong in the request body, not the URL.")
    repeated = sorted(k for k in request.form if len(request.form.getlist(k)) > 1)
    if repeated:
        return oauth_error("invalid_request", f"Repeated parameter: {', '.join(repeated)}.")
    return None


def _finish(response: Response) -> Response:
    """Commit what a successful call wrote; an error leaves nothing half-written."""
    if response.status_code == 200:
        session = db.session()
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            session.commit()  # a cached client_credentials grant touches no table at all
        issued_to = g.pop("tessera_issued_to", None)
        if issued_to is not None:
            usage = tessera().usage
            usage.count(issued_to, utcnow().date())
            usage.flush_if_due()
    else:
        db.session.rollback()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/token", methods=["POST"])
@csrf.exempt
def token() -> Response:
    return _malformed() or _finish(tessera().oauth.create_token_response())


@bp.route("/revoke", methods=["POST"])
@csrf.exempt
def revoke() -> Response:
    return _malformed() or _finish(tessera().oauth.create_endpoint_response("revocation"))


@bp.route("/introspect", methods=["POST"])
@csrf.exempt
def introspect() -> Response:
    return _malformed() or _finish(tessera().oauth.create_endpoint_response("introspection"))


@bp.route("/device_authorization", methods=["POST"])
@csrf.exempt
def device_authorization() -> Response:
    """RFC 8628 3.1: a device asks for a device_code and a user_code."""
    if tessera().device_flow is None:
        return oauth_error("invalid_request", "The device flow is not enabled.", 404)
    return _malformed() or _finish(tessera().oauth.create_endpoint_response("device_authorization"))
