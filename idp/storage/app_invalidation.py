"""A change to an app reaches the app cache of every worker and instance within a second.

Each process caches app policies for TESSERA_CLIENT_CACHE_TTL seconds
(idp/storage/client_cache.py), and a commit that changes an app (suspension, secrets, scopes,
deletion...) invalidates only the committing process's caches. With Redis, that commit is also
published on the deployment's channel (idp/storage/redis_state.py), and one subscriber thread
per process drops the named apps from its caches when the message arrives.

A subscriber that was not listening may have missed messages, so each (re)subscription clears
the whole cache. Redis down at start-up or later is not an error: the thread retries with a
back-off, and meanwhile the cache TTL is the bound, as without Redis.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable

from redis import RedisError

from idp.storage.client_cache import invalidate_watched, on_change, remove_listener
from idp.storage.redis_state import SharedRedis, redis_client

log = logging.getLogger(__name__)

ALL = "*"
MAX_NAMED = 200  # more changed apps than this in one commit: "all", a smaller message
RECONNECT_FIRST, RECONNECT_MAX = 0.1, 5.0
POLL = 0.5  # how often the thread looks up from the socket to see whether it must stop
HEALTH_CHECK_INTERVAL = 15  # a PING on the idle subscription, so a dead peer is noticed


def encode(client_ids: set[str] | None) -> str:
    named = client_ids is not None and len(client_ids) <= MAX_NAMED
    return json.dumps({"apps": sorted(client_ids) if named else ALL})


def decode(raw: bytes | str) -> set[str] | None:
    """The apps a message names; None for all of them, and for anything unreadable."""
    try:
        apps = json.loads(raw).get("apps")
    except (ValueError, AttributeError):
        log.warning("unreadable app-change message; dropping every cached app")
        return None
    if isinstance(apps, list) and all(isinstance(a, str) for a in apps):
        return set(apps)
    return None


class AppChangeBroadcast:
    """Publishes this process's app changes and applies everyone's."""

    def __init__(
        self,
        shared: SharedRedis,
        invalidate: Callable[[set[str] | None], None] = invalidate_watched,
    ) -> None:
        self.shared = shared
        self.subscribed = threading.Event()  # set while following the channel
        self._invalidate = invalidate
        self._client = redis_client(shared.url, health_check_interval=HEALTH_CHECK_INTERVAL)
        self._stop = threading.Event()
        self._delay = RECONNECT_FIRST
        self._thread: threading.Thread | None = None

    def publish(self, client_ids: set[str] | None) -> None:
        """After a commit; a failure only costs other processes the cache TTL."""
        if not self.shared.available():
            return
        try:
            self.shared.client.publish(self.shared.channel, encode(client_ids))
        except RedisError as exc:
            self.shared.failed(exc)
        else:
            self.shared.succeeded()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tessera-app-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except (RedisError, OSError) as exc:
                self.shared.failed(exc)
            self.subscribed.clear()
            self._stop.wait(self._delay)
            self._delay = min(self._delay * 2, RECONNECT_MAX)

    def _follow(self) -> None:
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(self.shared.channel)
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=POLL)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    # Whatever changed while nobody listened is unknown: forget everything.
                    self._invalidate(None)
                    self._delay = RECONNECT_FIRST
                    self.subscribed.set()
                    self.shared.succeeded()
                elif message["type"] == "message":
                    self._invalidate(decode(message["data"]))
        finally:
            pubsub.close()


_RUNNING: dict[tuple[int, str, str], AppChangeBroadcast] = {}
_RUNNING_LOCK = threading.Lock()


def follow_app_changes(shared: SharedRedis) -> AppChangeBroadcast:
    """The process's one broadcast for this Redis and channel, started on first use.

    Keyed by process id too: a forked worker inherits the parent's table but not its thread.
    """
    key = (os.getpid(), shared.url, shared.channel)
    with _RUNNING_LOCK:
        for inherited in [k for k in _RUNNING if k[0] != key[0]]:
            remove_listener(_RUNNING.pop(inherited).publish)
        broadcast = _RUNNING.get(key)
        if broadcast is None:
            broadcast = _RUNNING[key] = AppChangeBroadcast(shared)
            on_change(broadcast.publish)
            broadcast.start()
    return broadcast


def stop_following(broadcast: AppChangeBroadcast) -> None:
    """Stop and forget a broadcast (tests; a process normally follows until it exits)."""
    with _RUNNING_LOCK:
        for key, running in list(_RUNNING.items()):
            if running is broadcast:
                del _RUNNING[key]
    remove_listener(broadcast.publish)
    broadcast.stop()


def running() -> list[AppChangeBroadcast]:
    with _RUNNING_LOCK:
        return list(_RUNNING.values())
