"""One revocation listener per event loop for all of that loop's WebSocket sessions.

``RevocationState`` calls its listeners from whichever thread applies an update (the feed
poller's, a Redis subscriber's, the loop's own). A listener per session would mean N thread
hops and N wake-ups per update; this one schedules a single sweep on the loop, which checks
every session synchronously and starts an ending only for those whose token no longer holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from tessera_middleware.revocation import RevocationState

if TYPE_CHECKING:
    from tessera_middleware.ws import WebSocketSession

log = logging.getLogger(__name__)


class SessionWatcher:
    """The sessions of one event loop, checked in one sweep per revocation update."""

    _registry: dict[tuple[int, int], SessionWatcher] = {}

    def __init__(self, revocations: RevocationState | None, loop: asyncio.AbstractEventLoop):
        self.revocations = revocations
        self.loop = loop
        self.sessions: set[WebSocketSession] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending = False
        if revocations is not None:
            revocations.add_listener(self._on_update)

    @classmethod
    def for_loop(cls, revocations: RevocationState | None) -> SessionWatcher:
        loop = asyncio.get_running_loop()
        key = (id(revocations), id(loop))
        watcher = cls._registry.get(key)
        if watcher is None:
            watcher = cls._registry[key] = cls(revocations, loop)
        return watcher

    def add(self, session: WebSocketSession) -> None:
        self.sessions.add(session)

    def discard(self, session: WebSocketSession) -> None:
        self.sessions.discard(session)
        if not self.sessions:  # the last session gone: nothing keeps the loop or state alive
            self._registry.pop((id(self.revocations), id(self.loop)), None)
            if self.revocations is not None:
                self.revocations.remove_listener(self._on_update)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Typically the peer left while its close was being sent: nothing left to do.
            log.debug("ending a WebSocket session failed: %r", task.exception())

    def _on_update(self, doc: Any) -> None:
        """Any thread (the feed poller's, the loop's): one sweep is scheduled, not N wake-ups."""
        if self._pending:
            return
        self._pending = True
        with contextlib.suppress(RuntimeError):  # the loop has been closed
            self.loop.call_soon_threadsafe(self.sweep)

    def sweep(self) -> None:
        self._pending = False  # cleared first: an update arriving during the sweep gets its own
        for session in list(self.sessions):
            if session.token is not None and session.invalid_reason() is not None:
                self.spawn(session.enforce())
