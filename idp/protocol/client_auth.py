"""Client authentication at the machine endpoints (RFC 6749 2.3), on Authlib's.

Two rules Authlib leaves out: a client uses one method per request, never HTTP Basic and
``client_secret`` in the body at once; and a failure is answered with a plain sentence and, on
401, a Basic challenge that names its realm (RFC 7617 2). Which methods an app may use is the
app's policy (idp.protocol.clients.OAuthClient.check_endpoint_auth_method).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import ClientAuthentication
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization

# A constant: a header value is never built from request text.
REALM = "tessera"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'
TWO_METHODS = (
    "Authenticate the client one way only: HTTP Basic or client_secret in the body, "
    "not both (RFC 6749 2.3)."
)
OTHER_CLIENT = (
    "The client_id in the body names another client than the HTTP Basic credentials (RFC 6749 2.3)."
)
FAILED = (
    "Client authentication failed: the client_id is unknown, the secret is wrong, or this "
    "app may not authenticate this way here."
)

SUSPENDED = (
    "This app is suspended: it may not get or manage tokens. Its developers see the reason "
    "in the developer portal."
)


class ClientAuthenticationFailed(InvalidClientError):
    """invalid_client (RFC 6749 5.2) with a challenge RFC 7617 accepts on every 401."""

    def __init__(self, status_code: int) -> None:
        super().__init__(description=FAILED, status_code=status_code)

    def get_headers(self) -> list[tuple[str, str]]:
        headers = OAuth2Error.get_headers(self)  # not Authlib's realm-less challenge
        if self.status_code == 401:
            headers.append(("WWW-Authenticate", CHALLENGE))
        return headers


def sent_basic(headers: Any) -> bool:
    """Whether the request carries HTTP Basic credentials, well formed or not."""
    scheme = (headers.get("Authorization") or "").split(None, 1)
    return bool(scheme) and scheme[0].lower() == "basic"


class TesseraClientAuthentication(ClientAuthentication):
    def __init__(
        self, query_client: Callable[[str], Any], secret_used: Callable[[str], Any] | None = None
    ) -> None:
        super().__init__(query_client)
        self._secret_used = secret_used  # told the digest of each secret that authenticates

    def authenticate(self, request: Any, methods: list[str], endpoint: str) -> Any:
        basic = sent_basic(request.headers)
        if basic:
            # The client chose Basic: no other method is tried, or wrong Basic credentials
            # would fall through to `none` for whatever client_id the body names.
            _one_client(request)
            methods = [m for m in methods if m == "client_secret_basic"]
        try:
            client = super().authenticate(request, methods, endpoint)
        except InvalidClientError as failed:
            # RFC 6749 5.2: 401 when Basic was used (or is how this endpoint is asked for).
            status = 401 if basic or "client_secret_basic" in methods else 400
            raise ClientAuthenticationFailed(status) from failed
        digest = getattr(client, "matched_digest", None)
        if digest and self._secret_used is not None:
            self._secret_used(digest)
        if client.policy.suspended:
            # Said only now, after the secret (or, for a public app, the public client_id) has
            # been checked: a caller without the secret learns nothing beyond "failed". The
            # client did authenticate, so invalid_client ("authentication failed") would send
            # its developer chasing a secret; unauthorized_client (RFC 6749 5.2) says "you are
            # who you claim, and may not do this".
            raise UnauthorizedClientError(description=SUSPENDED)
        return client


def _one_client(request: Any) -> None:
    """Basic and body credentials together are two methods (RFC 6749 2.3); a repeated
    client_id is not, as long as it names the same client."""
    if "client_secret" in request.form:
        raise InvalidRequestError(TWO_METHODS)
    try:
        basic_id, _secret = extract_basic_authorization(request.headers)
    except ValueError:  # credentials that are not UTF-8
        raise ClientAuthenticationFailed(401) from None
    body_id = request.form.get("client_id")
    if body_id and body_id != basic_id:
        raise InvalidRequestError(OTHER_CLIENT)
