"""Follow Tessera's Redis stream of revocation events (the ``[redis]`` extra).

Every process runs its own follower: nothing is elected and nothing is relayed. A follower
loads the feed's snapshot (which says where the stream stood), then ``XREAD BLOCK``s from that
entry on. Entry ids are the events' consecutive ``seq``: a jump (the stream was trimmed past
us, Redis lost data) means missed events, and the follower reloads the snapshot and goes on
from its position. Redis down, at start-up or later: the follower polls the feed while it
retries with back-off, and reloads the snapshot once Redis answers again.

An XREAD that answers, with events or after its block timeout, counts as a sync for the
staleness policy. So that a Tessera that could not publish (its Redis link broken while ours
works) cannot leave us silently behind, the feed is also polled every ``safety_poll`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

from tessera_middleware import revocation_events
from tessera_middleware.errors import ServiceUnavailable
from tessera_middleware.revocation import RevocationFeedPoller, RevocationState

log = logging.getLogger(__name__)


class _Gap(Exception):
    pass


class RedisRevocationStream:
    """``RedisRevocationStream(state, poller, "redis://...").start()``

    The stream's key is, in this order: ``key`` if given; the one the issuer advertises in its
    discovery document (``tessera_revocation_stream_key``, read through the poller when the
    follower starts); else the one Tessera derives from ``issuer`` (the poller's by default;
    ``revocation_events.default_stream_key``), for a Tessera too old to advertise it.
    """

    def __init__(
        self,
        state: RevocationState,
        poller: RevocationFeedPoller,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key: str | None = None,
        issuer: str | None = None,
        client: redis.Redis | None = None,
        block_ms: int = 5000,
        safety_poll: float = 60.0,
        max_backoff: float = 30.0,
    ) -> None:
        issuer = issuer or poller.issuer
        if key is None and issuer is None:
            raise ValueError("give the stream key, or a poller that knows the issuer")
        self.state, self.poller = state, poller
        self._given_key, self._issuer = key, issuer
        self.key: str | None = key  # resolved when the follower first reaches Redis
        self.redis = client or redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=block_ms / 1000 + 2.0
        )
        self.block_ms, self.safety_poll, self.max_backoff = block_ms, safety_poll, max_backoff
        self.seq: int | None = None  # the last event applied
        self.following = threading.Event()  # set from the snapshot on, while Redis answers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tessera-revocation-stream")
            self._thread.daemon = True
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.redis.connection_pool.disconnect()  # ends a blocked XREAD now, not at its timeout
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
            except _Gap:
                continue  # reload the snapshot at once
            except Exception as exc:  # the follower must outlive any one failure
                if self._stop.is_set():
                    # stop() closed the connection under a blocked XREAD; redis-py then fails
                    # in ways of its own (an AttributeError from a parser whose buffer is gone).
                    return
                if isinstance(exc, redis.RedisError | OSError | ValueError):
                    log.warning(
                        "revocation stream unavailable, polling the feed meanwhile: %s", exc
                    )
                else:  # a bug, ours or the client's: logged in full, and the feed still polled
                    log.exception("revocation stream follower failed; polling the feed meanwhile")
            self.following.clear()
            self.seq = None
            if self._stop.is_set():
                return
            self.poller.poll_once()  # the fallback while the stream is away
            self._stop.wait(min(delay, self.poller.interval))
            delay = min(delay * 2, self.max_backoff)
            if self.redis_answers():
                delay = 0.5

    def resolve_key(self) -> str:
        """The advertised key, else the derived one; discovery failing is an OSError (the
        feed is polled meanwhile and this is tried again), never a guess against the issuer's
        word: the derived key is used only when discovery answered without one."""
        if self._given_key is not None:
            return self._given_key
        try:
            meta = self.poller.metadata()
        except ServiceUnavailable as exc:
            raise OSError(f"cannot read the issuer's metadata: {exc.description}") from None
        if meta is not None and meta.revocation_stream_key:
            return meta.revocation_stream_key
        return revocation_events.default_stream_key(self._issuer or "")

    def redis_answers(self) -> bool:
        try:
            return bool(self.redis.ping())
        except (redis.RedisError, OSError):
            return False

    def _follow(self) -> None:
        self.redis.ping()  # Redis first: with it down, polling is the plan
        self.key = self.key or self.resolve_key()
        seq = self.poller.load_snapshot()
        if seq is None:
            raise OSError("the revocation feed gave no snapshot with a stream position")
        self.seq = seq
        last_poll = time.monotonic()
        self.following.set()
        while not self._stop.is_set():
            reply = self.redis.xread({self.key: f"{self.seq}-0"}, count=500, block=self.block_ms)
            for _key, entries in reply or []:
                self._apply(entries)
            if not reply:
                self._check_restarted()
            self.state.mark_synced()
            if time.monotonic() - last_poll >= self.safety_poll:
                self.poller.poll_once()
                last_poll = time.monotonic()

    def _check_restarted(self) -> None:
        """A stream whose last entry is behind us was started again (Tessera's database was
        restored or replaced): our position means nothing there any more."""
        last = self.redis.xrevrange(self.key, count=1)
        if last and self.seq is not None and int(_text(last[0][0]).partition("-")[0]) < self.seq:
            log.warning("revocation stream %s was started again: reloading", self.key)
            raise _Gap

    def _apply(self, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        for entry_id, fields in entries:
            seq = int(_text(entry_id).partition("-")[0])
            if self.seq is not None and seq != self.seq + 1:
                log.info("revocation stream jumped from %s to %s: reloading", self.seq, seq)
                raise _Gap
            raw = fields.get(b"event", fields.get("event"))
            event = revocation_events.parse(_text(raw)) if raw is not None else None
            doc = revocation_events.delta(event) if event is not None else None
            if doc is not None:
                self.state.apply(doc)
            self.seq = seq


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
