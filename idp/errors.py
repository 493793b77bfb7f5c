"""One error model for every surface.

``OAuthError`` is a protocol refusal: ``error`` is the RFC code, ``description`` what the client
(or the person at the browser) is told, ``detail`` what only the log sees. The subclasses mirror
the RFC codes (``InvalidGrant`` for ``invalid_grant``). ``FieldErrors`` is a use case's refusal
of what somebody typed: readable messages keyed by the field they belong to, shown next to that
field on a page, under its key in the management API, on one line in the CLI.

Each surface maps these in one place: idp.web.errors (pages, and JSON for an OAuthError a view
raises), idp.web.authorize.responses (the authorization endpoint: an error page or a redirect
back to the app), idp.web.forms.apply_field_errors (FieldErrors on a form), portal.api.errors
(the management API).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# RFC 6749 5.2 (and 4.1.2.1): error_description is %x20-21 / %x23-5B / %x5D-7E.
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_DESCRIPTION_SWAPS = str.maketrans({'"': "'", "\\": "/", "\t": " ", "\n": " ", "\r": " "})
MAX_DESCRIPTION = 300


def safe_description(text: str) -> str:
    """Text as RFC 6749 5.2 allows it in ``error_description``, whatever went in.

    Every OAuthError passes its description through here, and so does every error body the
    protocol surfaces write: Authlib's errors (idp.protocol.server.handle_error_response), the
    machine endpoints' own refusals (idp.protocol.answers.error_answer) and the views' JSON
    errors (idp.web.errors). So no description can fail to render or carry request text that
    breaks a client's parser.
    """
    text = _NOT_IN_DESCRIPTION.sub("?", str(text).translate(_DESCRIPTION_SWAPS))
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 3] + "..."
    return text


class OAuthError(Exception):
    """A refusal with an RFC 6749 (or OpenID, RFC 8707, RFC 8628) error code."""

    error = "invalid_request"
    status_code = 400

    def __init__(self, description: str, *, detail: str | None = None) -> None:
        self.description = safe_description(description)
        super().__init__(self.description)
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error!r}, {self.description!r})"


def _code(name: str, error: str, status: int = 400) -> type[OAuthError]:
    return type(name, (OAuthError,), {"error": error, "status_code": status, "__doc__": error})


InvalidRequest = _code("InvalidRequest", "invalid_request")
InvalidClient = _code("InvalidClient", "invalid_client", 401)
InvalidGrant = _code("InvalidGrant", "invalid_grant")
UnauthorizedClient = _code("UnauthorizedClient", "unauthorized_client")
UnsupportedGrantType = _code("UnsupportedGrantType", "unsupported_grant_type")
UnsupportedResponseType = _code("UnsupportedResponseType", "unsupported_response_type")
InvalidScope = _code("InvalidScope", "invalid_scope")
InvalidTarget = _code("InvalidTarget", "invalid_target")
AccessDenied = _code("AccessDenied", "access_denied", 403)
LoginRequired = _code("LoginRequired", "login_required")
ConsentRequired = _code("ConsentRequired", "consent_required")
RequestNotSupported = _code("RequestNotSupported", "request_not_supported")
RequestUriNotSupported = _code("RequestUriNotSupported", "request_uri_not_supported")
ServerError = _code("ServerError", "server_error", 500)


class TemporarilyUnavailable(OAuthError):
    """temporarily_unavailable (RFC 6749 4.1.2.1), answered 503 with ``Retry-After``: a
    dependency (the database) is down or too slow, nothing was written, asking again later
    may succeed. Every surface adds the header from ``retry_after`` (seconds)."""

    error = "temporarily_unavailable"
    status_code = 503
    retry_after = 5


class FieldErrors(ValueError):
    """Readable reasons keyed by field (``""`` for the form as a whole)."""

    def __init__(
        self, errors: Mapping[str, list[str]] | str | None = None, field: str = ""
    ) -> None:
        if isinstance(errors, str):
            errors = {field: [errors]}
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        super().__init__(
            "; ".join(f"{k}: {' '.join(v)}" if k else " ".join(v) for k, v in self.errors.items())
        )

    @property
    def message(self) -> str:
        """Every reason in one sentence, for a flash message or a CLI line."""
        return " ".join(m for messages in self.errors.values() for m in messages)

    @property
    def field(self) -> str:
        """The first field named (``""`` when the reason is about the whole form)."""
        return next(iter(self.errors), "")
