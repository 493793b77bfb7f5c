"""Typed errors raised by the middleware; adapters turn them into RFC 6750 responses."""

from __future__ import annotations


class MiddlewareError(Exception):
    """Base class: ``status`` and ``error`` are what the HTTP response carries."""

    status = 500
    error = "server_error"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        # The description is sent to the client, so it must never contain key material or
        # the token itself: callers pass fixed, human-readable sentences.
        self.description = description


class InvalidToken(MiddlewareError):
    """The token is missing, malformed, expired, revoked or not meant for this API (401)."""

    status = 401
    error = "invalid_token"


class InsufficientScope(MiddlewareError):
    """The token is valid but lacks a scope the operation needs (403)."""

    status = 403
    error = "insufficient_scope"

    def __init__(self, description: str, required: tuple[str, ...]) -> None:
        super().__init__(description)
        self.required = required


class DelegationRefused(MiddlewareError):
    """The route needs the user in person and the token is delegated (RFC 8693 ``act``).

    401 with ``error="insufficient_user_authentication"`` (RFC 9470 3): the token is valid but
    the user's authentication behind it does not meet the route's requirement, here "no one
    acting for them". Not an ``InvalidToken``: the token stays good for the other routes, and
    a WebSocket session answers the one command with an error instead of closing.
    """

    status = 401
    error = "insufficient_user_authentication"


class InvalidRequest(MiddlewareError):
    """The request carries the token in a way we refuse, e.g. in the query string (400)."""

    status = 400
    error = "invalid_request"


class ServiceUnavailable(MiddlewareError):
    """We cannot decide right now (IdP keys unreachable, revocation data too stale) (503)."""

    status = 503
    error = "temporarily_unavailable"

    def __init__(self, description: str, retry_after: int = 5) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class RateLimited(MiddlewareError):
    """The app (or the app for this user) went over its tier (429)."""

    status = 429
    error = "rate_limited"

    def __init__(self, description: str, result: object) -> None:
        super().__init__(description)
        # A ``RateLimitResult``; typed loosely so this module imports nothing of ours.
        self.result = result


class TokenMissing(InvalidToken):
    """No credentials at all: RFC 6750 3.1 says to answer with the bare challenge."""
