"""The OAuth endpoints machines call: token, revocation, introspection, device authorization.

They are served as a small WSGI application placed in front of Flask's request handling,
because they are the hot paths (bench/README.md) and need none of what Flask adds per request:
no cookie session, no CSRF, no templates, no routing beyond four exact paths. Profiled in
process, a client_credentials request cost ~400 us through Flask, of which Authlib's grant and
the signature were ~150 us; here the whole request costs ~100 us.

Authlib's authorization server still does all the protocol work (client authentication, grant
validation, error shapes); this module only turns WSGI into an OAuth2Request and the answer
back into WSGI, inside an app context so storage works as everywhere else.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Container, Iterable
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_plus

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from authlib.common.security import is_secure_transport
from flask import Flask
from werkzeug.datastructures import EnvironHeaders

from idp.domain.cors import (
    TOKEN_PREFLIGHT,
    actual_headers,
    is_cross_origin,
    origin_allowed,
    origin_of,
    preflight_headers,
)
from idp.domain.request_text import BadText, check_basic_credentials, check_pairs
from idp.errors import TemporarilyUnavailable
from idp.protocol.answers import Answer, error_answer
from idp.protocol.headers import SECURITY_HEADERS
from idp.protocol.requests import MachineOAuth2Request
from idp.protocol.usage import count_usage

log = logging.getLogger(__name__)

# path -> Authlib endpoint name (None: the token endpoint)
ENDPOINTS: dict[str, str | None] = {
    "/oauth/token": None,
    "/oauth/revoke": "revocation",
    "/oauth/introspect": "introspection",
    "/oauth/device_authorization": "device_authorization",
}
FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 100  # the largest legitimate request has about a dozen parameters
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
ALLOW = "OPTIONS, POST"
STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
# The endpoints an SPA calls with fetch() (idp.domain.cors); the others are for servers.
CORS_ENDPOINTS = frozenset({None, "revocation"})
_OURS = frozenset({"content-length", "cache-control", "pragma"})  # MachineEndpoints sets these

StartResponse = Callable[..., Any]


class BadForm(ValueError):
    """The request is not a well-formed OAuth form POST (RFC 6749 3.1, 3.2)."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status = status


@lru_cache(maxsize=64)
def secure_transport(scheme: str, host: str) -> bool:
    """Authlib's rule (https, or http on loopback or with AUTHLIB_INSECURE_TRANSPORT set)."""
    return is_secure_transport(f"{scheme}://{host}/")


def read_form(environ: dict[str, Any], max_length: int) -> dict[str, str]:
    """The body's parameters; BadForm when it is not a form POST as RFC 6749 3.1/3.2 want."""
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if mimetype != FORM:
        raise BadForm(f"Send parameters as {FORM}.")
    if environ.get("QUERY_STRING"):
        raise BadForm("Parameters belong in the request body, not the URL.")
    pairs = parse_form(read_body(environ, max_length))
    form = dict(pairs)
    if len(form) != len(pairs):
        counts = Counter(k for k, _ in pairs)
        repeated = sorted(k for k, n in counts.items() if n > 1)
        raise BadForm(f"Repeated parameter: {', '.join(repeated)}.")
    return form


def read_body(environ: dict[str, Any], max_length: int) -> bytes:
    """The body, never more than max_length bytes (413 beyond), never a read that can hang."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdecimal():  # the usual case: the client said how much it sends
        if int(length) > max_length:
            raise BadForm("The request body is too large.", 413)
        return stream.read(int(length))
    if environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream for us
        body = stream.read(max_length + 1)
        if len(body) > max_length:
            raise BadForm("The request body is too large.", 413)
        return body
    return b""  # no length and a stream nobody ends: reading could wait forever (as Werkzeug)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """urllib.parse.parse_qsl(keep_blank_values=True), as Werkzeug's form parser calls it.

    Written out because parse_qsl cost ~9 us per token request in place, most of it for
    fields that hold no escape at all; those are now taken as they are.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise BadForm("The request body is not UTF-8.") from None
    fields = [f for f in text.split("&") if f]
    if len(fields) > MAX_FIELDS:
        raise BadForm("Too many parameters.")
    pairs = []
    for field in fields:
        name, _, value = field.partition("=")
        pairs.append((_unquote(name), _unquote(value)))
    return pairs


def _unquote(text: str) -> str:
    if "%" in text or "+" in text:
        # Undecodable escapes stay as they were, as in Werkzeug.
        return unquote_plus(text, errors="werkzeug.url_quote")
    return text


def request_host(environ: dict[str, Any]) -> str:
    return environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"


def request_uri(environ: dict[str, Any], host: str) -> str:
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return f"{environ['wsgi.url_scheme']}://{host}{path}"


def unavailable_answer(refused: TemporarilyUnavailable) -> Answer:
    """503 temporarily_unavailable with Retry-After (RFC 9110 10.2.3): nothing was written."""
    answer = error_answer(refused.error, refused.description, refused.status_code)
    answer.headers.append(("Retry-After", str(refused.retry_after)))
    return answer


class MachineEndpoints:
    """WSGI middleware: answers the four machine endpoints, hands every other path to Flask."""

    def __init__(
        self,
        app: Flask,
        inner: Callable[[dict, StartResponse], Iterable[bytes]],
        session: Any,
        unavailable: Callable[[BaseException, str], TemporarilyUnavailable | None] = (
            lambda exc, where: None
        ),
        spa_origins: Container[str] = frozenset(),
    ) -> None:
        self.app = app
        self.inner = inner
        # The database session (scoped, as Flask-SQLAlchemy's): committed after a successful
        # call, rolled back after a refusal, never opened when nothing needed it.
        self.session = session
        # Storage's verdict on an exception: the 503 to answer when the database is out of
        # reach (idp.storage.outage.unavailable), None for a bug.
        self.unavailable = unavailable
        # Origins some SPA app registered: the ones a CORS preflight is granted to.
        self.spa_origins = spa_origins

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path not in ENDPOINTS:
            return self.inner(environ, start_response)
        status, body, headers = self.answer(environ, ENDPOINTS[path])
        headers = [h for h in headers if h[0].lower() not in _OURS]
        headers.extend(NO_STORE)
        headers.extend(SECURITY_HEADERS)
        headers.append(("Content-Length", str(len(body))))
        start_response(STATUS_LINES[status], headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    def answer(self, environ: dict[str, Any], endpoint: str | None) -> Answer:
        method = environ.get("REQUEST_METHOD")
        if method == "OPTIONS":
            return self._preflight(environ, endpoint)
        if method != "POST":
            refused = error_answer("invalid_request", "This endpoint accepts POST only.", 405)
            refused.headers.append(("Allow", ALLOW))
            return refused
        host = request_host(environ)
        if not secure_transport(environ["wsgi.url_scheme"], host):
            return error_answer("insecure_transport", "OAuth 2 MUST utilize https.", 400)
        tessera = self.app.extensions["tessera"]
        if endpoint == "device_authorization" and tessera.device_flow is None:
            return error_answer("invalid_request", "The device flow is not enabled.", 404)
        try:
            form = read_form(environ, tessera.settings.MAX_CONTENT_LENGTH)
            check_pairs(form, "form")
            check_basic_credentials(environ.get("HTTP_AUTHORIZATION"))
        except BadForm as exc:
            return error_answer("invalid_request", str(exc), exc.status)
        except BadText as exc:  # the edge rule every surface applies (idp.domain.request_text)
            return error_answer("invalid_request", str(exc), 400)
        with self.app.app_context():
            return self._dispatch(environ, request_uri(environ, host), tessera, endpoint, form)

    def _dispatch(
        self,
        environ: dict[str, Any],
        uri: str,
        tessera: Any,
        endpoint: str | None,
        form: dict[str, str],
    ) -> Answer:
        request = MachineOAuth2Request(uri, EnvironHeaders(environ), form)
        try:
            cors = self._cors(environ, uri, tessera, endpoint, form)
            if cors is None:
                return error_answer(
                    "invalid_request",
                    "This origin may not call this endpoint for this client_id: only the origins "
                    "of a single-page app's registered redirect URIs may.",
                    403,
                )
            if endpoint is None:
                answer = tessera.oauth.create_token_response(request)
            else:
                answer = tessera.oauth.create_endpoint_response(endpoint, request)
            ok = answer[0] == 200
            if endpoint is None:  # the token endpoint: count for the app's usage page (before
                # the commit, after which reading the user's id would cost a SELECT)
                count_usage(tessera, request, answer)
            self._finish(ok)
            # After the commit: the flush writes on its own connection, which on SQLite would
            # wait for this request's write lock until the busy timeout.
            tessera.usage.flush_if_due()
        except Exception as exc:
            self._discard()
            refused = self.unavailable(exc, f"POST {environ.get('PATH_INFO')}")
            if refused is not None:
                return unavailable_answer(refused)
            log.exception("unhandled error on POST %s", environ.get("PATH_INFO"))
            return error_answer("server_error", "An unexpected error happened; it is logged.", 500)
        answer.headers.extend(cors)
        return answer

    def _cors(
        self, environ: dict[str, Any], uri: str, tessera: Any, endpoint: str | None, form: dict
    ) -> list[tuple[str, str]] | None:
        """The CORS headers for this answer; None when a browser origin must be refused.

        Refused before the grant runs, so a page on a foreign origin cannot even spend a code.
        The origin must belong to the client that authenticates: an SPA is a public client,
        so its client_id is in the form.
        """
        origin = environ.get("HTTP_ORIGIN")
        # Servers and bots send no Origin: answer them before parsing any URL.
        if not origin or not is_cross_origin(
            origin, {origin_of(uri), origin_of(tessera.settings.ISSUER)}
        ):
            return [("Vary", "Origin")] if endpoint in CORS_ENDPOINTS else []
        if endpoint not in CORS_ENDPOINTS:
            return []  # no CORS grant: the browser keeps the answer from the page
        client = tessera.oauth.query_client(form.get("client_id"))
        if client is None or not origin_allowed(
            origin, client.policy.app_type, client.policy.redirect_uris
        ):
            return None
        return actual_headers(origin)

    def _preflight(self, environ: dict[str, Any], endpoint: str | None) -> Answer:
        """OPTIONS: the methods, and for an origin some SPA registered, the CORS grant."""
        origin = environ.get("HTTP_ORIGIN")
        if endpoint not in CORS_ENDPOINTS or not origin:
            return Answer(200, b"", [("Allow", ALLOW)])
        with self.app.app_context():
            try:
                granted = origin in self.spa_origins
            except Exception as exc:
                self._discard()
                refused = self.unavailable(exc, f"OPTIONS {environ.get('PATH_INFO')}")
                if refused is None:
                    raise
                return unavailable_answer(refused)
            finally:
                self.session.remove()
        headers = preflight_headers(origin if granted else None, TOKEN_PREFLIGHT)
        return Answer(200, b"", [("Allow", ALLOW), *headers])

    def _discard(self) -> None:
        """Roll back whatever the failed call began; the next request starts clean. After an
        outage the rollback itself may fail on the dead connection: the session is dropped."""
        if not self.session.registry.has():
            return
        try:
            self.session.rollback()
        except Exception:
            log.warning("rollback failed; session discarded", exc_info=True)
            self.session.remove()

    def _finish(self, ok: bool) -> None:
        """Commit what a successful call wrote; an error leaves nothing half-written."""
        # A cached client_credentials grant touches no table at all: no session was even opened.
        if self.session.registry.has():
            if ok:
                self.session.commit()
            else:
                self.session.rollback()
