"""One object the adapters share: token -> verified, scoped, fresh, rate-limited."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tessera_middleware.errors import InvalidRequest, MiddlewareError, ServiceUnavailable
from tessera_middleware.jwks import KeysNotReady
from tessera_middleware.revocation import RevocationState
from tessera_middleware.rfc6750 import (
    ErrorResponse,
    bearer_from_request,
    error_response,
    require_scopes,
)
from tessera_middleware.tokens import AccessToken
from tessera_middleware.verifier import TokenVerifier

if TYPE_CHECKING:  # the rate limiter is optional: loaded only where one is given
    from tessera_middleware.ratelimit import RateLimitResult, TierRateLimiter


@dataclass(frozen=True, slots=True)
class Authorized:
    token: AccessToken
    rate: RateLimitResult | None

    def headers(self) -> list[tuple[str, str]]:
        return self.rate.headers() if self.rate is not None else []


def origin_allowed(origin: str | None, allowed: Iterable[str] | None) -> bool:
    """``allowed=None`` disables the check; otherwise an exact, case-insensitive match."""
    if allowed is None:
        return True
    return origin is not None and origin.lower() in {a.lower() for a in allowed}


class ResourceGuard:
    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        rate_limiter: TierRateLimiter | None = None,
        realm: str = "tessera",
        fetch_timeout: float = 10.0,
    ) -> None:
        self.verifier = verifier
        self.fetch_timeout = fetch_timeout  # how long an async request waits for the JWKS
        self.rate_limiter = rate_limiter
        if rate_limiter is not None:
            # Budgets are per API unless the limiter was given a shared key_prefix.
            rate_limiter.for_audience(verifier.audiences)
        self.realm = realm

    @property
    def revocations(self) -> RevocationState | None:
        revocations = self.verifier.revocations
        return revocations if isinstance(revocations, RevocationState) else None

    def authorize(
        self,
        token: str,
        scopes: Iterable[str] = (),
        *,
        any_of: bool = False,
        count: bool = True,
        block: bool = True,
        allow_delegated: bool = True,
    ) -> Authorized:
        """Verify, check scopes and revocation freshness, then count one rate-limit hit.

        ``allow_delegated=False``: a token with an RFC 8693 ``act`` claim (an app acting for
        the user) is refused with ``DelegationRefused`` (401 insufficient_user_authentication).
        """
        access = self.verifier.verify(token, block=block)
        scopes = tuple(scopes)
        require_scopes(access, *scopes, any_of=any_of, allow_delegated=allow_delegated)
        revocations = self.revocations
        if revocations is not None:
            revocations.check_fresh(scopes)
        rate = None
        if count and self.rate_limiter is not None:
            rate = self.rate_limiter.check(access)
        return Authorized(access, rate)

    def authorize_request(
        self,
        authorization: str | None,
        query: Mapping[str, str] | None,
        scopes: Iterable[str] = (),
        *,
        any_of: bool = False,
        allow_query: bool = False,
        count: bool = True,
        block: bool = True,
        allow_delegated: bool = True,
    ) -> Authorized:
        token = bearer_from_request(authorization, query, allow_query=allow_query)
        return self.authorize(
            token, scopes, any_of=any_of, count=count, block=block, allow_delegated=allow_delegated
        )

    async def authorize_async(
        self,
        token: str,
        scopes: Iterable[str] = (),
        *,
        any_of: bool = False,
        count: bool = True,
        allow_delegated: bool = True,
    ) -> Authorized:
        """``authorize`` for event loops: no network wait (JWKS, Redis) on the loop."""
        scopes = tuple(scopes)
        return await self.off_loop(
            lambda block: self.authorize(
                token,
                scopes,
                any_of=any_of,
                count=False,
                block=block,
                allow_delegated=allow_delegated,
            ),
            count=count,
        )

    async def off_loop(
        self, call: Callable[[bool], Authorized], *, count: bool = True
    ) -> Authorized:
        """Authorize from an event loop: ``call(block)`` verifies without counting.

        It runs on the loop with ``block=False``; keys it lacks are fetched in a thread, for at
        most ``fetch_timeout`` (past it: 503, the issuer is unreachable, while the fetch goes on
        for later requests). The rate-limit hit follows, in a thread when it is a Redis call.
        """
        auth = await self._verify_off_loop(call)
        limiter = self.rate_limiter
        if not count or limiter is None:
            return auth
        return Authorized(auth.token, await limiter.check_async(auth.token))

    async def _verify_off_loop(self, call: Callable[[bool], Authorized]) -> Authorized:
        try:
            return call(False)
        except KeysNotReady as pending:
            kid = pending.kid
        try:
            await asyncio.wait_for(asyncio.to_thread(self._fetch_key, kid), self.fetch_timeout)
            return call(False)
        except (TimeoutError, KeysNotReady):
            raise ServiceUnavailable("the issuer is unreachable") from None

    def _fetch_key(self, kid: str) -> None:
        # The outcome (key, absent, or unreachable) is read again by the caller on the loop.
        with contextlib.suppress(MiddlewareError):
            self.verifier.keys.get(kid)

    def error(self, exc: MiddlewareError) -> ErrorResponse:
        return error_response(exc, self.realm)


def single_valued(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters as a dict; a repeated ``access_token`` is refused, not guessed at."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if key == "access_token" and key in out:
            raise InvalidRequest("access_token was sent more than once")
        out.setdefault(key, value)
    return out
