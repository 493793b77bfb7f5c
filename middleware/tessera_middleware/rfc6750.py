"""Bearer tokens in, RFC 6750 errors out: the part every adapter shares."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tessera_middleware.errors import (
    DelegationRefused,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MiddlewareError,
    RateLimited,
    ServiceUnavailable,
    TokenMissing,
)
from tessera_middleware.tokens import AccessToken


def require_scopes(
    token: AccessToken, *scopes: str, any_of: bool = False, allow_delegated: bool = True
) -> None:
    """Raise ``InsufficientScope`` unless the token has all (or, with any_of, one) of scopes;
    ``allow_delegated=False``: ``DelegationRefused`` for a token with an ``act`` claim."""
    if not allow_delegated and token.actor is not None:
        raise DelegationRefused(
            "this operation needs the user in person, not an app acting for them"
        )
    if not scopes:
        return
    granted = token.scopes
    ok = (not granted.isdisjoint(scopes)) if any_of else granted.issuperset(scopes)
    if not ok:
        kind = "one of" if any_of else "all of"
        raise InsufficientScope(f"this operation needs {kind}: {' '.join(scopes)}", scopes)


def bearer_from_header(authorization: str | None) -> str:
    """The token from ``Authorization: Bearer <token>``; ``InvalidToken`` if absent."""
    if not authorization:
        raise TokenMissing("no access token was sent")
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        raise InvalidToken("the Authorization header is not a Bearer token")
    return value


def bearer_from_request(
    authorization: str | None,
    query: Mapping[str, str] | None = None,
    *,
    allow_query: bool = False,
) -> str:
    """Header first; a query ``access_token`` only where explicitly allowed (WebSockets).

    Browsers cannot set headers on a WebSocket handshake, which is the one case where the
    query string is tolerated; elsewhere it leaks into logs and Referer headers.
    """
    in_query = query is not None and "access_token" in query
    if authorization:
        if in_query:
            raise InvalidRequest("send the access token in one place only")
        return bearer_from_header(authorization)
    if in_query:
        if not allow_query:
            raise InvalidRequest("access tokens in the query string are refused")
        return query["access_token"]  # type: ignore[index]
    raise TokenMissing("no access token was sent")


# Errors whose challenge names the error (RFC 6750 3; RFC 9470 3 for the delegation refusal).
_DESCRIBED = (InvalidToken, InsufficientScope, InvalidRequest, DelegationRefused)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_response(
    exc: MiddlewareError, realm: str, extra_headers: Iterable[tuple[str, str]] = ()
) -> ErrorResponse:
    """Build the status, headers and JSON body for an error, per RFC 6750 section 3."""
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    headers.extend(extra_headers)
    params = [f"realm={_quote(realm)}"]
    if isinstance(exc, _DESCRIBED) and not isinstance(exc, TokenMissing):
        params.append(f"error={_quote(exc.error)}")
        params.append(f"error_description={_quote(exc.description)}")
    if isinstance(exc, InsufficientScope):
        params.append(f"scope={_quote(' '.join(exc.required))}")
    if exc.status in (400, 401, 403):
        headers.append(("WWW-Authenticate", "Bearer " + ", ".join(params)))
    if isinstance(exc, ServiceUnavailable):
        headers.append(("Retry-After", str(exc.retry_after)))
    if isinstance(exc, RateLimited):
        headers.extend(exc.result.headers(exceeded=True))  # type: ignore[attr-defined]
    body = json.dumps({"error": exc.error, "error_description": exc.description}).encode()
    return ErrorResponse(exc.status, headers, body)
