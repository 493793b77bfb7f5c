"""Framework-free WebSocket pieces: handshake tokens, in-band sign-in, ``WebSocketSession``.

A session tracks the token a connection signed in with. When the token expires or is
revoked it either closes the connection (``on_invalid="close"``, code 4401) or sends
``{"type": "revoked"}`` and drops to no privileges until the client signs in again
(``on_invalid="downgrade"``). Every command is checked against its scopes and counted
against the app's rate limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

from tessera_middleware.errors import InvalidRequest, InvalidToken, MiddlewareError, RateLimited
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.rfc6750 import require_scopes
from tessera_middleware.tokens import AccessToken
from tessera_middleware.verifier import DEFAULT_MAX_TOKEN_SIZE

BEARER_PROTOCOL_PREFIX = "bearer."
CLOSE_UNAUTHORIZED = 4401  # private-use range: "sign in again", unlike 1008's "go away"
CLOSE_POLICY = 1008


def token_from_subprotocols(protocols: Iterable[str]) -> str | None:
    """The token from a ``bearer.<token>`` entry of Sec-WebSocket-Protocol, if any."""
    for protocol in protocols:
        if protocol.startswith(BEARER_PROTOCOL_PREFIX):
            return protocol[len(BEARER_PROTOCOL_PREFIX) :] or None
    return None


# Room for the verifier's largest token (8 KiB by default) and the JSON around it.
AUTH_MESSAGE_OVERHEAD = 1024


def parse_auth_message(
    raw: str | bytes, max_size: int = DEFAULT_MAX_TOKEN_SIZE + AUTH_MESSAGE_OVERHEAD
) -> str:
    """Token from an in-band ``{"type": "auth", "token": "..."}`` message.

    The size is checked before parsing and every decode failure (bad UTF-8, bad or too
    deeply nested JSON) is an ``InvalidRequest``, so a hostile message closes the connection
    with 1008, never an unhandled error (1011).
    """
    if len(raw) > max_size:
        raise InvalidRequest("the auth message is too large")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("the first message must be a JSON auth message") from exc
    if not isinstance(message, dict) or message.get("type") != "auth":
        raise InvalidRequest("the first message must be a JSON auth message")
    token = message.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidRequest("the auth message has no token")
    return token


class WebSocketSession:
    def __init__(
        self,
        guard: ResourceGuard,
        token: AccessToken | None,
        *,
        send_json: Callable[[Mapping[str, Any]], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        on_invalid: Literal["close", "downgrade"] = "close",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.guard = guard
        self.token = token
        self._send_json = send_json
        self._close = close
        self.on_invalid = on_invalid
        self._clock = clock or (lambda: time.time())
        self.closed = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def invalid_reason(self) -> str | None:
        """Why the current token no longer holds, or None while it does."""
        if self.token is None:
            return "not signed in"
        if self.guard.verifier.is_expired(self.token, self._clock()):
            return "the token has expired"
        revocations = self.guard.verifier.revocations
        return revocations.revoked_reason(self.token) if revocations is not None else None

    async def enforce(self) -> bool:
        """Act on an expired or revoked token; True while the session may still act."""
        if self.closed:
            return False
        if self.token is None:
            return self.on_invalid == "downgrade"
        reason = self.invalid_reason()
        if reason is None:
            return True
        if self.on_invalid == "close":
            self.closed = True
            await self._close(CLOSE_UNAUTHORIZED, reason[:120])
            return False
        self.token = None  # privileges dropped until the client signs in again
        await self._send_json({"type": "revoked", "reason": reason})
        return True

    async def authorize(self, *scopes: str, any_of: bool = False) -> AccessToken:
        """Gate one command or subscription: valid token, scopes, per-app message limit."""
        if not await self.enforce() or self.token is None:
            raise InvalidToken("sign in again to continue")
        require_scopes(self.token, *scopes, any_of=any_of)
        limiter = self.guard.rate_limiter
        if limiter is not None:
            result = await limiter.hit_async(self.token)
            if not result.allowed:
                raise RateLimited("too many messages for this app", result)
        return self.token

    async def sign_in(self, raw_message: str | bytes) -> AccessToken:
        """In-band sign-in (or token refresh) with an auth message; keeps identity stable."""
        limit = self.guard.verifier.max_token_size + AUTH_MESSAGE_OVERHEAD
        auth = await self.guard.authorize_async(parse_auth_message(raw_message, limit), count=False)
        old = self.token
        if old is not None and (old.subject, old.client_id) != (
            auth.token.subject,
            auth.token.client_id,
        ):
            raise InvalidToken("a session cannot switch to another user or app")
        self.token = auth.token
        if self._wake is not None:
            self._wake.set()  # re-arm the expiry timer for the new token
        return auth.token

    async def send(self, event: Mapping[str, Any]) -> None:
        await self._send_json(event)

    async def error_event(self, exc: MiddlewareError) -> None:
        event: dict[str, Any] = {"type": "error", "error": exc.error, "message": exc.description}
        if isinstance(exc, RateLimited):
            event["retry_after"] = exc.result.retry_after  # type: ignore[attr-defined]
        if hasattr(exc, "required"):
            event["scope"] = " ".join(exc.required)  # type: ignore[attr-defined]
        await self._send_json(event)

    def wake(self) -> None:
        """Thread-safe nudge to re-check now (revocation listeners call this)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def watch(self) -> None:
        """Run alongside the handler: enforce at expiry and on every revocation update."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        revocations = self.guard.revocations
        listener = lambda doc: self.wake()  # noqa: E731
        if revocations is not None:
            revocations.add_listener(listener)
        try:
            while not self.closed:
                delay = None
                if self.token is not None:
                    # Wake when is_expired turns true: the same leeway as HTTP requests.
                    deadline = self.token.expires_at + self.guard.verifier.leeway
                    delay = max(0.0, deadline - self._clock())
                with contextlib.suppress(TimeoutError):  # the timeout *is* the expiry timer
                    await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
                await self.enforce()
        finally:
            if revocations is not None:
                revocations.remove_listener(listener)
