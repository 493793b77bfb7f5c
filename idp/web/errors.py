"""Error pages and JSON errors: a readable message, never a traceback (ASVS V16.5).

A database outage (idp.storage.outage) is answered 503 with Retry-After on every Flask route:
RFC 6749-shaped JSON where JSON is wanted, the error page in a browser."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from idp.errors import OAuthError, TemporarilyUnavailable, safe_description
from idp.extensions import db
from idp.storage.outage import unavailable
from idp.web.context import uow
from idp.web.edge import RejectedText

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Please go back and try again."),
    401: ("Sign-in needed", "You need to sign in to see this page."),
    403: ("Forbidden", "You do not have access to this page."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Method not allowed", "This page does not accept that kind of request."),
    413: ("Too large", "What you sent is larger than this page accepts."),
    429: ("Slow down", "Too many requests. Please wait a moment and try again."),
    500: ("Something went wrong", "An unexpected error happened on our side. It has been logged."),
    503: (
        "Temporarily unavailable",
        "We cannot serve this page right now. Please try again in a few seconds.",
    ),
}
# The routes that answer JSON to machines, by endpoint: the rest of /oauth/ (authorize,
# end_session) are browser pages, whatever their path says.
JSON_BLUEPRINTS = frozenset({"api", "feed"})
JSON_ENDPOINTS = frozenset({"oidc.discovery", "oidc.jwks", "oidc.userinfo", "home.health"})
# An address no route matches (404) falls back to its path: the machine endpoints'
# neighbourhood answers JSON.
JSON_PATHS = ("/oauth/", "/api/", "/.well-known/", "/jwks.json", "/healthz")


def _endpoint() -> str | None:
    """The endpoint of the route the request addressed, also when its method was refused (405)."""
    if request.url_rule is not None:
        return request.url_rule.endpoint
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        return adapter.match()[0]
    except MethodNotAllowed as refused:
        methods = sorted(refused.valid_methods or ())
        try:
            return adapter.match(method=methods[0])[0] if methods else None
        except HTTPException:
            return None
    except HTTPException:  # no route, or a redirect to a slash
        return None


def answers_json(endpoint: str | None, path: str) -> bool:
    """Whether this route is a machine (JSON) route rather than a browser page."""
    if endpoint is None:
        return path.startswith(JSON_PATHS)
    return endpoint in JSON_ENDPOINTS or endpoint.partition(".")[0] in JSON_BLUEPRINTS


def wants_json() -> bool:
    if answers_json(_endpoint(), request.path):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """An RFC 6749 5.2-shaped JSON error, never cached."""
    response = jsonify(error=error, error_description=safe_description(description))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def oauth_refusal(refused: OAuthError) -> Response:
    """An OAuthError raised by a view, as RFC 6749 5.2 JSON: the client reads the description,
    only the log sees the detail. (The authorization endpoint answers in the browser instead:
    idp.web.authorize.responses.)"""
    if refused.detail:
        log.info(
            "refused %s %s (%s): %s", request.method, request.path, refused.error, refused.detail
        )
    response = oauth_error(refused.error, refused.description, refused.status_code)
    if isinstance(refused, TemporarilyUnavailable):
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


def render_error(code: int, detail: str | None = None) -> Response:
    title, message = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    if wants_json():
        error = {
            400: "invalid_request",
            401: "unauthorized",
            404: "not_found",
            429: "rate_limited",
            503: "temporarily_unavailable",
        }.get(code, "server_error" if code >= 500 else "invalid_request")
        body = jsonify(error=error, error_description=safe_description(detail or message))
        body.headers["Cache-Control"] = "no-store"
        return make_response(body, code)
    return make_response(
        render_template("error.html", code=code, title=title, message=detail or message), code
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(OAuthError, oauth_refusal)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        # CSRFProtect refuses before the session hook has run: load the signed-in user, so the
        # page keeps its navigation (and the user sees they are still signed in).
        if "user" not in g:
            from idp.web.sessions import load_login_session

            try:
                load_login_session()
            except SQLAlchemyError:
                g.user, g.login_session = None, None  # an outage: the page, without the nav
        return render_error(
            400,
            "This form has expired or was sent from elsewhere. Please reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        original = getattr(exc, "original_exception", None)  # raised after the view (Flask)
        if isinstance(exc, InternalServerError) and original is not None:
            outage = _outage_answer(original)
            if outage is not None:
                return outage
        response = render_error(
            exc.code, exc.description if isinstance(exc, RejectedText) else None
        )
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        outage = _outage_answer(exc)
        if outage is not None:
            return outage
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError.code)


def _outage_answer(exc: BaseException) -> Response | None:
    """503 when `exc` is a database outage, None for a bug; the session is cleaned up either way."""
    refused = unavailable(exc, f"{request.method} {request.path}")
    user = g.get("user")
    if refused is not None and user is not None and user in db.session:
        # The page's menu reads the signed-in user: keep what is loaded, the rollback would
        # expire it and drawing the page would then ask the unreachable database again.
        db.session.expunge(user)
    _discard_session()
    return None if refused is None else render_unavailable(refused)


def render_unavailable(refused: TemporarilyUnavailable) -> Response:
    """503 with Retry-After: the error page, or temporarily_unavailable as JSON."""
    try:
        response = render_error(refused.status_code, refused.description)
    except SQLAlchemyError:  # the user was expired earlier (a commit): drawn as for a visitor
        _discard_session()
        g.user = None
        response = render_error(refused.status_code, refused.description)
    response.headers["Retry-After"] = str(refused.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _discard_session() -> None:
    """Roll back what the failed request began, so nothing is half-written and the next
    request on this thread starts clean; on a dead connection, drop the session instead."""
    try:
        uow().rollback()
    except Exception:
        log.warning("rollback failed; session discarded", exc_info=True)
        db.session.remove()
