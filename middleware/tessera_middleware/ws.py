"""The WebSocket session lifecycle, shared by the ``websockets`` and ASGI adapters.

A ``WebSocketSession`` holds the token a connection signed in with (at the handshake or in
band), and speaks to the client through a ``Codec`` (``codec.py``: JSON or ``wfm``). When the
token expires or is revoked it either closes the connection (``on_invalid="close"``, code
4401, after a revoked/expired event if the codec announces it) or sends the event and drops to
no privileges until the client signs in again (``on_invalid="downgrade"``). A sign-in on a live
connection replaces the token (same user and app only). Every command is checked against its
scopes, the revocation data's freshness (writes pause while it is stale, as over HTTP) and the
app's rate limit.

Expiry and revocation need no traffic and no task per connection: each session arms one timer
at its token's expiry, and one revocation listener per event loop (``SessionWatcher``) checks
every session of that loop when the revocation state changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Literal

from tessera_middleware.codec import (
    AUTH_MESSAGE_OVERHEAD,
    Codec,
    JsonCodec,
    Message,
    error_fields,
    signed_in_fields,
)
from tessera_middleware.errors import InvalidRequest, InvalidToken, MiddlewareError, RateLimited
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.rfc6750 import require_scopes
from tessera_middleware.tokens import AccessToken
from tessera_middleware.verifier import DEFAULT_MAX_TOKEN_SIZE
from tessera_middleware.ws_watch import SessionWatcher

__all__ = [
    "AUTH_MESSAGE_OVERHEAD",
    "CLOSE_POLICY",
    "CLOSE_UNAUTHORIZED",
    "SessionWatcher",
    "WebSocketSession",
    "parse_auth_message",
    "token_from_subprotocols",
]

BEARER_PROTOCOL_PREFIX = "bearer."
CLOSE_UNAUTHORIZED = 4401  # private-use range: "sign in again", unlike 1008's "go away"
CLOSE_POLICY = 1008

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
Receive = Callable[[], Awaitable["str | bytes | None"]]  # None: the connection is closed


def token_from_subprotocols(protocols: Iterable[str]) -> str | None:
    """The token from a ``bearer.<token>`` entry of Sec-WebSocket-Protocol, if any."""
    for protocol in protocols:
        if protocol.startswith(BEARER_PROTOCOL_PREFIX):
            return protocol[len(BEARER_PROTOCOL_PREFIX) :] or None
    return None


def parse_auth_message(
    raw: str | bytes, max_size: int = DEFAULT_MAX_TOKEN_SIZE + AUTH_MESSAGE_OVERHEAD
) -> str:
    """Token from a JSON ``{"type": "auth", "token": "..."}`` message (``InvalidRequest`` else)."""
    codec = JsonCodec(max_size)
    token = codec.sign_in_token(codec.decode(raw))
    if token is None:
        raise InvalidRequest("the first message must be a JSON auth message")
    return token


class WebSocketSession:
    __slots__ = (
        "_clock",
        "_close",
        "_done",
        "_receive",
        "_send_text",
        "_timer",
        "_watcher",
        "closed",
        "codec",
        "guard",
        "on_invalid",
        "scopes",
        "token",
    )

    def __init__(
        self,
        guard: ResourceGuard,
        token: AccessToken | None,
        *,
        send_text: SendText,
        close: Close,
        receive: Receive | None = None,
        codec: Codec | None = None,
        scopes: Iterable[str] = (),
        on_invalid: Literal["close", "downgrade"] = "close",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.guard = guard
        self.token = token
        self.codec = codec or JsonCodec(guard.verifier.max_token_size + AUTH_MESSAGE_OVERHEAD)
        self.scopes = tuple(scopes)  # what every token of this session must hold (ws:connect)
        self.on_invalid = on_invalid
        self.closed = False
        self._send_text, self._close, self._receive = send_text, close, receive
        self._clock = clock or time.time
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: SessionWatcher | None = None
        self._done: asyncio.Future[None] | None = None

    # -- the token's state -------------------------------------------------------------------

    def invalid_reason(self) -> tuple[str, str] | None:
        """(``"expired"`` or ``"revoked"``, why) once the token no longer holds, else None."""
        if self.token is None:
            return "revoked", "not signed in"
        if self.guard.verifier.is_expired(self.token, self._clock()):
            return "expired", "the token has expired"
        revocations = self.guard.verifier.revocations
        reason = revocations.revoked_reason(self.token) if revocations is not None else None
        return ("revoked", reason) if reason is not None else None

    async def enforce(self) -> bool:
        """Act on an expired or revoked token; True while the session may still act."""
        if self.closed:
            return False
        if self.token is None:
            return self.on_invalid == "downgrade"
        invalid = self.invalid_reason()
        if invalid is None:
            return True
        kind, reason = invalid
        if self.on_invalid == "close":
            await self.close(CLOSE_UNAUTHORIZED, reason, announce=kind)
            return False
        self.token = None  # privileges dropped until the client signs in again
        self._disarm()
        await self.send_raw(self.codec.event(kind, reason=reason))
        return True

    async def authorize(
        self, *scopes: str, any_of: bool = False, allow_delegated: bool = True
    ) -> AccessToken:
        """Gate one command: valid token, scopes, fresh revocation data for writes, rate.
        ``allow_delegated=False``: a token with an ``act`` claim gets an error event (the
        session stays open: its token is still good for other commands)."""
        if not await self.enforce() or self.token is None:
            raise InvalidToken("sign in again to continue")
        require_scopes(self.token, *scopes, any_of=any_of, allow_delegated=allow_delegated)
        revocations = self.guard.revocations
        if revocations is not None:
            revocations.check_fresh(scopes)  # stale data: writes pause (503 over HTTP)
        limiter = self.guard.rate_limiter
        if limiter is not None:
            result = await limiter.hit_async(self.token)
            if not result.allowed:
                raise RateLimited("too many messages for this app", result)
        return self.token

    # -- signing in --------------------------------------------------------------------------

    async def sign_in(self, message: Message | str | bytes) -> AccessToken:
        """Verify a sign-in message's token and make it the session's (same user and app)."""
        if not isinstance(message, Message):
            message = self.codec.decode(message)
        raw_token = self.codec.sign_in_token(message)
        if raw_token is None:
            raise InvalidRequest("the first message must sign in")
        auth = await self.guard.authorize_async(raw_token, self.scopes, count=False)
        old = self.token
        if old is not None and (old.subject, old.client_id) != (
            auth.token.subject,
            auth.token.client_id,
        ):
            raise InvalidToken("a session cannot switch to another user or app")
        self.token = auth.token
        self._arm()  # the expiry timer now follows the new token
        return auth.token

    async def handle_sign_in(self, message: Message, *, first: bool = False) -> bool:
        """Sign in and reply; on failure reply (if the codec announces) and close, or for a
        refused-but-valid case on a live session (scope, stale data) keep the old token."""
        try:
            token = await self.sign_in(message)
        except MiddlewareError as exc:
            failed = self.codec.event("sign_in_failed", request=message, **error_fields(exc))
            if first or isinstance(exc, InvalidToken):
                if self.codec.announce_close:
                    await self.send_raw(failed)
                await self.close(CLOSE_POLICY if first else CLOSE_UNAUTHORIZED, exc.description)
                return False
            await self.send_raw(failed)
            return True
        reply = self.codec.event("signed_in", request=message, **signed_in_fields(token))
        await self.send_raw(reply)
        return True

    async def sign_in_first_message(self, *, timeout: float = 10.0) -> bool:
        """For a handshake without a token: the first message must sign in (else close 1008)."""
        if self._receive is None:
            raise RuntimeError("this session was made without a receive function")
        try:
            raw = await asyncio.wait_for(self._receive(), timeout)
            if raw is None:
                self.closed = True
                return False
            message = self.codec.decode(raw)
        except TimeoutError:
            await self.close(CLOSE_POLICY, "sign-in timed out")
            return False
        except MiddlewareError as exc:
            await self.close(CLOSE_POLICY, exc.description)
            return False
        if not self._is_sign_in(message):
            refused = InvalidRequest("the first message must sign in")
            if self.codec.announce_close:
                await self.error_event(refused, message)
            await self.close(CLOSE_POLICY, refused.description)
            return False
        return await self.handle_sign_in(message, first=True)

    def _is_sign_in(self, message: Message) -> bool:
        try:
            return self.codec.sign_in_token(message) is not None
        except InvalidRequest:
            return True  # a sign-in without its token: answered as a failed sign-in

    async def messages(self) -> AsyncIterator[Message]:
        """The client's messages, decoded; sign-ins are handled here (re-authentication),
        undecodable frames answered with an error event, and the loop ends when closed."""
        if self._receive is None:
            raise RuntimeError("this session was made without a receive function")
        while not self.closed:
            raw = await self._receive()
            if raw is None:
                self.closed = True
                return
            try:
                message = self.codec.decode(raw)
            except InvalidRequest as exc:
                await self.error_event(exc)
                continue
            if self._is_sign_in(message):
                await self.handle_sign_in(message)
                continue
            yield message

    # -- speaking ----------------------------------------------------------------------------

    async def send(self, route: str, payload: Any = None, *, ref: str | None = None) -> None:
        await self.send_raw(self.codec.encode(route, payload, ref=ref))

    async def send_raw(self, text: str) -> None:
        if not self.closed:
            await self._send_text(text)

    async def error_event(self, exc: MiddlewareError, message: Message | None = None) -> None:
        await self.send_raw(self.codec.error(exc, message))

    async def close(self, code: int, reason: str, *, announce: str | None = None) -> None:
        """Close once; ``announce`` (revoked/expired) sends that event first if the codec does."""
        if self.closed:
            return
        self.closed = True  # first: a sweep racing this one must not announce twice
        self.stop()
        if announce is not None and self.codec.announce_close:
            with contextlib.suppress(Exception):  # the peer may already be gone
                await self._send_text(self.codec.event(announce, reason=reason))
        await self._close(code, reason[:120])

    # -- watching: expiry timer and revocation listener ---------------------------------------

    def start(self) -> None:
        """Begin enforcing expiry and revocation without traffic (call on the event loop)."""
        if self._watcher is None:
            self._watcher = SessionWatcher.for_loop(self.guard.revocations)
            self._watcher.add(self)
        self._arm()

    def stop(self) -> None:
        self._disarm()
        if self._watcher is not None:
            self._watcher.discard(self)
            self._watcher = None
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def __aenter__(self) -> WebSocketSession:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    async def watch(self) -> None:
        """``start()`` and wait until the session is closed or stopped (run it as a task)."""
        self._done = asyncio.get_running_loop().create_future()
        self.start()
        try:
            await self._done
        finally:
            self.stop()

    def _arm(self) -> None:
        self._disarm()
        if self._watcher is None or self.token is None or self.closed:
            return
        # Fire when is_expired turns true: the same leeway as HTTP requests.
        deadline = self.token.expires_at + self.guard.verifier.leeway
        delay = max(0.0, deadline - self._clock())
        self._timer = self._watcher.loop.call_later(delay, self._on_timer)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._watcher is None:
            return
        if self.invalid_reason() is None:
            self._arm()  # an injected clock that runs slow, or a token replaced meanwhile
        else:
            self._watcher.spawn(self.enforce())
