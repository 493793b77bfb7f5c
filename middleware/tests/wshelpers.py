"""One test endpoint body for both WebSocket adapters, and a clock the tests move."""

from __future__ import annotations

import time

from tessera_middleware import MiddlewareError
from tessera_middleware.ws import WebSocketSession

ORIGIN = "https://app.tessera.test"


class ShiftedClock:
    """Real time plus an offset: a test puts a token's expiry a fraction of a second away."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def expire_in(self, seconds: float, expires_at: float, leeway: float) -> None:
        self.offset = expires_at + leeway - seconds - time.time()


async def serve_session(session: WebSocketSession) -> None:
    """Sign in if the handshake did not, then answer each command ``{scope}`` with ``:ok``."""
    if session.token is None and not await session.sign_in_first_message(timeout=5):
        return
    async with session:
        async for message in session.messages():
            try:
                await session.authorize((message.payload or {}).get("scope", "ws:connect"))
            except MiddlewareError as exc:
                await session.error_event(exc, message)
                continue
            await session.send(
                f"{message.route}:ok", {"sub": session.token.subject}, ref=message.id
            )
