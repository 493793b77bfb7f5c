"""Tessera resource-server middleware: verify access tokens, enforce scopes and rate limits.

Importing this package loads only PyJWT, cryptography and the stdlib. Redis (the ``[redis]``
extra) and the framework adapters live in their own modules and are imported only when used,
e.g. ``from tessera_middleware.flask_ext import TesseraAuth``.
"""

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
from tessera_middleware.revocation import RevocationFeedPoller, RevocationState, is_write_scope
from tessera_middleware.rfc6750 import (
    bearer_from_header,
    bearer_from_request,
    error_response,
    require_scopes,
)
from tessera_middleware.sse import SseRevocationStream
from tessera_middleware.tokens import AccessToken, Actor, Tier
from tessera_middleware.verifier import DEFAULT_ALGORITHMS, TokenVerifier

__all__ = [
    "DEFAULT_ALGORITHMS",
    "AccessToken",
    "Actor",
    "DelegationRefused",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "MiddlewareError",
    "RateLimited",
    "RevocationFeedPoller",
    "RevocationState",
    "ServiceUnavailable",
    "SseRevocationStream",
    "Tier",
    "TokenMissing",
    "TokenVerifier",
    "bearer_from_header",
    "bearer_from_request",
    "error_response",
    "is_write_scope",
    "require_scopes",
]
